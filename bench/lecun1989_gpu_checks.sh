#!/usr/bin/env bash
# The GPU checks of the fused 1989 backends, in one go on a machine with a CUDA GPU:
# build, tests (GPU ones included), compute-sanitizer memcheck/racecheck, the
# speed bench, and the 23-pass cuda_persistent runs for seeds 0..4.
#   bash bench/lecun1989_gpu_checks.sh OUT_DIR [LOG_DIR]
# Needs REPRO_DATA_ROOT pointing at a folder with usps/. Writes logs and run records into OUT_DIR.
set -uo pipefail
out="${1:?usage: lecun1989_gpu_checks.sh OUT_DIR}"
mkdir -p "$out"
logs="${2:-$out}"  # bulky logs and run records (default: OUT_DIR)
mkdir -p "$logs"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
$PY -m lecun1989.fused.build --cuda 2>&1 | grep -v "No CUDA runtime" | tee "$out/build.log"
$PY -m pytest -q -p no:cacheprovider tests/lecun1989/test_fused.py 2>&1 | tail -15 | tee "$out/pytest_fused.log"
$PY bench/lecun1989_speed.py --name lecun1989_speed_gpu --out "$out" 2>&1 | grep -v "No CUDA runtime" | tee "$out/bench.log"
$PY -m lecun1989.cli -m seed=0,1,2,3,4 trainer.backend=cuda_persistent trainer.device=cuda trainer.progress=false \
    hydra.sweep.dir="$logs/runs/baseline_cuda_persistent" > "$logs/runs.log" 2>&1
tail -3 "$logs/runs.log" | tee -a "$out/bench.log"
find "$logs/runs" -name checkpoint.pt -delete
for tool in memcheck racecheck synccheck initcheck; do
    timeout 150 compute-sanitizer --tool "$tool" --error-exitcode 9 $PY -m lecun1989.fused.selfcheck --steps 32 \
        > "$logs/sanitizer_$tool.log" 2>&1
    echo "compute-sanitizer $tool: exit $? ($(grep -E 'ERROR SUMMARY|max \|weight' "$logs/sanitizer_$tool.log" | tr '\n' ' '))" | tee -a "$out/sanitizer.txt"
done

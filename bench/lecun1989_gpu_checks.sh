#!/usr/bin/env bash
# The GPU checks of the fused 1989 backends, in one go on a machine with a CUDA GPU:
# build, tests (GPU ones included), compute-sanitizer memcheck/racecheck, the
# speed bench, the 23-pass cuda_persistent runs for seeds 0..4, and the per-example
# tricks on the CUDA kernel (train_steps_ex, train_steps_many): against the CPU kernel,
# under the sanitizers, and Karpathy's table (seed 0) with every row on cuda_persistent.
#   bash bench/lecun1989_gpu_checks.sh OUT_DIR [LOG_DIR]
# Needs REPRO_DATA_ROOT pointing at a folder with usps/ (and mnist/ for Karpathy's table). Writes logs and run records into OUT_DIR.
set -uo pipefail
out="${1:?usage: lecun1989_gpu_checks.sh OUT_DIR}"
mkdir -p "$out"
logs="${2:-$out}"  # bulky logs and run records (default: OUT_DIR)
mkdir -p "$logs"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
timeout 900 $PY -m lecun1989.fused.build --cuda 2>&1 | grep -v "No CUDA runtime" | tee "$out/build.log"
timeout 900 $PY -m pytest -q -p no:cacheprovider tests/lecun1989/test_fused.py 2>&1 | tail -15 | tee "$out/pytest_fused.log"
timeout 1200 $PY bench/lecun1989_speed.py --name lecun1989_speed_gpu --out "$out" 2>&1 | grep -v "No CUDA runtime" | tee "$out/bench.log"
timeout 1800 $PY -m lecun1989.cli -m seed=0,1,2,3,4 trainer.backend=cuda_persistent trainer.device=cuda trainer.progress=false \
    hydra.sweep.dir="$logs/runs/baseline_cuda_persistent" > "$logs/runs.log" 2>&1
tail -3 "$logs/runs.log" | tee -a "$out/bench.log"
find "$logs/runs" -name checkpoint.pt -delete
for tool in memcheck racecheck synccheck initcheck; do
    timeout 150 compute-sanitizer --tool "$tool" --error-exitcode 9 $PY -m lecun1989.fused.selfcheck --steps 32 \
        > "$logs/sanitizer_$tool.log" 2>&1
    echo "compute-sanitizer $tool: exit $? ($(grep -E 'ERROR SUMMARY|max \|weight' "$logs/sanitizer_$tool.log" | tr '\n' ' '))" | tee -a "$out/sanitizer.txt"
done
# ---- the per-example tricks on the CUDA kernel (each step under its own timeout) ----
timeout 900 $PY -m pytest -q -p no:cacheprovider -rs tests/lecun1989/test_fused_cuda_tricks.py 2>&1 | tail -25 \
    | tee "$out/pytest_fused_cuda_tricks.log"
for tool in memcheck racecheck synccheck; do
    timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 9 $PY -m pytest -q -p no:cacheprovider \
        tests/lecun1989/test_fused_cuda_tricks.py -k "many_runs and (karpathy_all or wider_adamw)" \
        > "$logs/sanitizer_tricks_$tool.log" 2>&1
    echo "compute-sanitizer $tool (train_steps_ex/many, karpathy_all + wider_adamw): exit $? ($(grep -E 'ERROR SUMMARY|passed|failed' "$logs/sanitizer_tricks_$tool.log" | tr '\n' ' '))" | tee -a "$out/sanitizer.txt"
done
# Every row of Karpathy's table on the GPU kernel, one job at a time (clean timings); the
# records say train_time_s per row. Compare with the fused_cpu records of results/lecun1989/runs/karpathy_table.
timeout 2400 $PY -m lecun1989.cli -m experiment=karpathy_table seed=0 trainer.backend=cuda_persistent trainer.device=cuda \
    hydra.launcher.n_jobs=1 hydra.sweep.dir="$logs/runs/karpathy_table_cuda_persistent" > "$logs/karpathy_table_cuda.log" 2>&1
echo "karpathy_table on cuda_persistent: exit $?" | tee "$out/karpathy_table_cuda.txt"
timeout 60 $PY - "$logs/runs/karpathy_table_cuda_persistent" <<'PYEOF' 2>&1 | tee -a "$out/karpathy_table_cuda.txt"
import json, sys
from pathlib import Path
for m in sorted(Path(sys.argv[1]).glob("*/metrics.json")):
    r = json.loads(m.read_text())
    print(f"{m.parent.name}: {r.get('status')} train {r.get('train_time_s', float('nan')):.1f} s, "
          f"test error {r['final']['test']['error']:.2f}%")
PYEOF
find "$logs/runs" -name checkpoint.pt -delete

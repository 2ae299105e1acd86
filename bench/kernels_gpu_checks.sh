#!/usr/bin/env bash
# The GPU checks of the AlexNet kernels (alexnet2012/kernels), in one go on a machine with a CUDA GPU:
# build, the kernel tests (their GPU cases run there), the self-check under compute-sanitizer
# (memcheck, racecheck, synccheck, initcheck), bench/kernels.py (the ops and the convolutions against
# cuDNN) and bench/alexnet_step.py's CUDA rows (torch, custom, the cuDNN-conv mix, compiled) into OUT_DIR.
#   bash bench/kernels_gpu_checks.sh OUT_DIR
set -uo pipefail
out="${1:?usage: kernels_gpu_checks.sh OUT_DIR}"
mkdir -p "$out"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
$PY -m alexnet2012.kernels.build 2>&1 | grep -v "No CUDA runtime" | tee "$out/build.log"
$PY -m pytest -q -p no:cacheprovider tests/alexnet2012/kernels tests/alexnet2012/test_custom_ops.py 2>&1 | tail -15 \
    | tee "$out/pytest_kernels.log"
$PY bench/kernels.py --out "$out" 2>&1 | grep -v "No CUDA runtime" | tee "$out/bench.log"
$PY bench/alexnet_step.py --only CUDA --steps 8 --out "$out" --name alexnet_step_gpu 2>&1 | grep -v "No CUDA runtime" \
    | tee "$out/alexnet_step.log"
for tool in memcheck racecheck synccheck initcheck; do
    timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 9 $PY -m alexnet2012.kernels.selfcheck --device cuda \
        > "$out/sanitizer_$tool.log" 2>&1
    echo "compute-sanitizer $tool: exit $? ($(grep -E 'ERROR SUMMARY|failed$' "$out/sanitizer_$tool.log" | tr '\n' ' '))" \
        | tee -a "$out/sanitizer.txt"
done

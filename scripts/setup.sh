#!/usr/bin/env bash
# Install everything the project needs into ./.venv (idempotent).
# torch==2.14.1 is the CUDA 13.0 build: it runs on CPU-only machines too and lets
# our CUDA extensions compile with nvcc where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python -c "import torch, hydra, pandas, matplotlib; print('repro: installed torch', torch.__version__, '(CUDA', torch.version.cuda, ')')"

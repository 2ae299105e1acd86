#!/usr/bin/env bash
# The one way to run on a GPU: one part per `run` call, everything it needs carried, everything it made
# packed into $OUT (bench/gpu_session.py; the parts and their steps: bench/gpu_parts.py).
#   bash bench/gpu_session.sh PART [--rehearse] [--budget SECONDS]   PART: kernels, lecun1989, cifar10, ablations
# On the device (python3 is 3.12 with torch 2.11.0, no hydra): carry .whl (scripts/device_wheels.sh) and, for
# the data sets a part reads, the pieces `python bench/gpu_session.py data NAME` makes; here, unpack with
# `python bench/gpu_session.py unpack FILES_AT`. --rehearse runs everything up to the first GPU instruction.
set -uo pipefail
cd "$(dirname "$0")/.."
# $PYTHON, else the checkout's venv where there is one (here), else python3 (the device's).
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
if ! "$PY" -c "import hydra, omegaconf" 2>/dev/null; then
    # The device's python3 lacks hydra-core/omegaconf/antlr4: install the carried wheels into a scratch site.
    site="${REPRO_DEVICE_SITE:-/tmp/repro_site}"
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        if [ -x .venv/bin/python ]; then  # here, with another python: the venv has everything
            echo "error: $PY cannot import hydra; run with the project's venv: PYTHON=.venv/bin/python bash bench/gpu_session.sh $*" >&2
        else
            echo "error: $PY cannot import hydra, and there is no .venv here (scripts/setup.sh makes one) nor carried wheels (.whl: scripts/device_wheels.sh, for the device)" >&2
        fi
        exit 2
    fi
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
        || { echo "error: installing the carried wheels (.whl) into $site failed" >&2; exit 2; }
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 REPRO_DATA_ROOT="${REPRO_DATA_ROOT:-$PWD/data}"
exec "$PY" bench/gpu_session.py "$@"

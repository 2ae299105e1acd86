#!/usr/bin/env bash
# The GPU session rehearsed here, against the device's own software: a scratch venv with Python 3.12 and
# torch 2.11.0 (the device's versions) and nothing of ours but the carried wheels (.whl), every part of
# bench/gpu_session.sh in --rehearse mode, then results/bench/gpu_rehearsal.md.
#   bash scripts/gpu_rehearsal.sh [PART...]        # default: every part; the venv is reused once made
# Cheapest torch 2.11.0 that imports: the PyPI wheel without its dependencies (--no-deps), its pure-Python
# dependencies, and the CUDA 13 libraries (nvidia/*) of the project's own .venv linked in, instead of
# downloading torch 2.11's multi-GB nvidia-* pins (same sonames; nothing here runs on a GPU). Builds go to
# build/rehearse/build (REPRO_BUILD_DIR), apart from the project's build/ cache.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH="${REHEARSE_TORCH:-2.11.0}"
V=build/rehearse/venv
if [ -z "${PYTHON312:-}" ]; then
    for PYTHON312 in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 python3; do
        "$PYTHON312" -c "" 2>/dev/null && break
    done
fi
if ! "$V/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH')" 2>/dev/null; then
    echo "making $V: $("$PYTHON312" --version) with torch $TORCH"
    rm -rf "$V" && "$PYTHON312" -m venv "$V"
    "$V/bin/python" -m pip install -q --disable-pip-version-check --no-deps "torch==$TORCH"
    # torch's own pure-Python needs (not its nvidia-*/cuda-*/triton pins), then what the device has that the
    # project uses (pyproject.toml's dependencies the device has, pytest) and ninja for the builds.
    mapfile -t needs < <("$V/bin/python" - <<'PYEOF'
import re, tomllib
from importlib.metadata import requires
skip = re.compile(r"^(nvidia-|cuda-|triton)")
for r in requires("torch"):
    if "extra ==" not in r and not skip.match(r):
        print(r.split(";")[0].strip())
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
have = {norm(l.split()[0]) for l in open("bench/device_packages.txt") if l.strip() and not l.startswith("#")}
for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name = norm(re.match(r"[A-Za-z0-9_.-]+", d).group())
    if name in have and name != "torch":
        print(name)
print("pytest"); print("ninja")
PYEOF
)
    "$V/bin/python" -m pip install -q --disable-pip-version-check "${needs[@]}"
    site=$("$V/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    nvidia=$(.venv/bin/python -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]) + '/nvidia')")
    ln -sfn "$nvidia" "$site/nvidia"
fi
"$V/bin/python" -c "import torch; print('rehearsal venv: python', __import__('platform').python_version(), 'torch', torch.__version__)"
bash scripts/device_wheels.sh
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(kernels lecun1989 cifar10 ablations)
export REPRO_DATA_ROOT="${REPRO_DATA_ROOT:-$(cd .. && pwd)/shared/data}"
status=0
for part in "${parts[@]}"; do
    PYTHON="$V/bin/python" REPRO_DEVICE_SITE="$PWD/build/rehearse/site" REPRO_BUILD_DIR="$PWD/build/rehearse/build" \
        bash bench/gpu_session.sh "$part" --rehearse --deep || status=1
done
"$V/bin/python" bench/gpu_session.py rehearsal-report "bash scripts/gpu_rehearsal.sh" || status=1
exit $status

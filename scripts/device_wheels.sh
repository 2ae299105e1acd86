#!/usr/bin/env bash
# The wheels a GPU session carries: exactly the project's dependencies (pyproject.toml's
# [project].dependencies) that the device machine lacks (bench/device_packages.txt), with their own
# dependencies that it lacks, for CPython 3.12 on manylinux x86_64, into .whl/ (git-ignored).
#   bash scripts/device_wheels.sh [DIR]        # default .whl; prints each wheel and the total size
# bench/gpu_session.sh installs them on the device (pip --no-index --no-deps --target) when its python3
# cannot import hydra. Pure-Python sdists (antlr4-python3-runtime 4.9.3 has no wheel on PyPI) are built
# into py3-none-any wheels here; a platform wheel for anything but cp312 manylinux x86_64 is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.whl}"
# A Python 3.12 resolves dependency markers as the device's does; any python3 with pip does for these.
if [ -z "${PYTHON:-}" ]; then
    for PYTHON in python3.12 python3; do "$PYTHON" -c "" 2>/dev/null && break; done  # (a pyenv shim may not run)
fi
PY="$PYTHON"
reqs=$("$PY" bench/gpu_session.py missing-deps)
[ -n "$reqs" ] || { echo "the device has every dependency in pyproject.toml: nothing to carry"; exit 0; }
echo "missing on the device (pyproject.toml): $(echo $reqs)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t reqarr <<<"$reqs"
"$PY" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$tmp" "${reqarr[@]}"
rm -rf "$out" && mkdir -p "$out"
"$PY" - "$tmp" "$out" "$("$PY" bench/gpu_session.py device-has)" <<'PYEOF'
import re, shutil, sys
from pathlib import Path

norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
src, dst, have = Path(sys.argv[1]), Path(sys.argv[2]), set(sys.argv[3].split())
total = 0
for whl in sorted(src.glob("*.whl")):
    name, version, *_, py, abi, plat = whl.stem.split("-")
    if norm(name) in have:
        print(f"  skip {whl.name} (the device has {norm(name)})")
        continue
    pure = (py, abi, plat) in {("py3", "none", "any"), ("py2.py3", "none", "any")}
    if not pure and not ("cp312" in py and "x86_64" in plat and "linux" in plat):
        sys.exit(f"error: {whl.name} is built for {py}/{plat}, not CPython 3.12 manylinux x86_64: "
                 "run with PYTHON=python3.12")
    shutil.copy2(whl, dst / whl.name)
    total += whl.stat().st_size
    print(f"  carry {whl.name} ({whl.stat().st_size / 2**20:.2f} MiB)")
print(f"{dst}: {len(list(dst.glob('*.whl')))} wheels, {total / 2**20:.2f} MiB (limit of what travels: 64 MiB)")
if total > 32 * 2**20:
    sys.exit("error: the wheels take more than half of the 64 MiB that travels")
PYEOF

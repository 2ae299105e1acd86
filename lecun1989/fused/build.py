"""Build step of the fused 1989 kernels: `python -m lecun1989.fused.build [--cuda]`.

The C++/CUDA sources in csrc/ are compiled with torch.utils.cpp_extension into
a cache folder ($REPRO_BUILD_DIR, default <repo>/build/lecun1989_fused), once per
source change; later imports load the cached library. The CUDA kernel compiles
with nvcc on machines without a GPU (the CUDA build of torch), so CI proves it
builds even where it cannot run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import cache
from pathlib import Path

CSRC = Path(__file__).resolve().parent / "csrc"
REPO = Path(__file__).resolve().parents[2]
BUILD_DIR_ENV = "REPRO_BUILD_DIR"
# sm_90 for H100/H200, plus PTX for newer GPUs to JIT from.
CUDA_ARCH_FLAGS = ["-gencode=arch=compute_90,code=sm_90", "-gencode=arch=compute_90,code=compute_90"]


class BuildError(RuntimeError):
    pass


def build_dir(name: str) -> Path:
    root = Path(os.environ.get(BUILD_DIR_ENV) or REPO / "build" / "lecun1989_fused")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cuda_home() -> str | None:
    """$CUDA_HOME, else the usual toolkit folders. torch's own guess follows
    `which nvcc`, which is wrong where nvcc is linked into /usr/local/bin."""
    for candidate in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if candidate and (Path(candidate) / "bin" / "nvcc").exists():
            return candidate
    return None


def _load(name: str, sources: list[Path], **kwargs):
    import torch.utils.cpp_extension as cpp_extension
    from torch.utils.cpp_extension import load

    home = _cuda_home()
    if home is not None:
        cpp_extension.CUDA_HOME = home

    try:
        return load(name=name, sources=[str(s) for s in sources], build_directory=str(build_dir(name)),
                    verbose=bool(os.environ.get("REPRO_BUILD_VERBOSE")), **kwargs)
    except Exception as exc:  # compiler errors surface as RuntimeError/CalledProcessError
        raise BuildError(f"building {name} from {', '.join(s.name for s in sources)} failed: {exc}") from exc


@cache
def cpu_extension():
    """The fused CPU kernels (C++, -O3, one thread)."""
    return _load("net1989_cpu", [CSRC / "net1989_cpu.cpp"], extra_cflags=["-O3", "-fopenmp-simd", "-march=native"])


@cache
def cuda_extension():
    """The persistent CUDA kernel (needs nvcc and the CUDA build of torch; not a GPU)."""
    import torch

    if torch.version.cuda is None:
        raise BuildError(f"torch {torch.__version__} is a CPU-only build; install the CUDA build (scripts/setup.sh)")
    return _load(
        "net1989_cuda",
        [CSRC / "net1989_cuda.cu"],
        extra_cflags=["-O3"],
        extra_cuda_cflags=["-O3", "-lineinfo", *CUDA_ARCH_FLAGS],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="also build the CUDA kernel")
    args = parser.parse_args(argv)
    targets = [("cpu", cpu_extension)] + ([("cuda", cuda_extension)] if args.cuda else [])
    for label, fn in targets:
        t0 = time.perf_counter()
        try:
            fn()
        except BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"built {label} kernels in {time.perf_counter() - t0:.1f} s ({build_dir('net1989_' + label)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build step of the fused 1989 kernels: `python -m lecun1989.fused.build [--cuda]`.

The C++/CUDA sources in csrc/ are compiled by `repro.native_build` into a cache
folder ($REPRO_BUILD_DIR, default <repo>/build/lecun1989_fused), once per content of
the sources, flags and compilers (wherever the checkout lies); later imports load the
cached library.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import cache
from pathlib import Path

from repro.native_build import BuildError, cuda_home, load_extension, require_cuda_torch
from repro.native_build import build_dir as _build_dir

CSRC = Path(__file__).resolve().parent / "csrc"
FAMILY = "lecun1989_fused"
# sm_90 for H100/H200, plus PTX for newer GPUs to JIT from.
CUDA_ARCH_FLAGS = ["-gencode=arch=compute_90,code=sm_90", "-gencode=arch=compute_90,code=compute_90"]
_cuda_home = cuda_home  # the name the tests use
__all__ = ["BuildError", "build_dir", "cpu_extension", "cuda_extension"]


def build_dir(name: str) -> Path:
    return _build_dir(FAMILY, name)


def _load(name: str, sources: list[Path], **kwargs):
    return load_extension(FAMILY, name, sources, **kwargs)


@cache
def cpu_extension():
    """The fused CPU kernels (C++, -O3, one thread)."""
    # -fno-math-errno: sqrt (AdamW) vectorizes; -fno-trapping-math: floor (vtanh) vectorizes. Values are
    # unchanged (sqrt and floor are exact either way; nothing here reads the floating-point flags).
    return _load("net1989_cpu", [CSRC / "net1989_cpu.cpp"],
                 extra_cflags=["-O3", "-fopenmp-simd", "-march=native", "-fno-math-errno", "-fno-trapping-math"])


@cache
def cuda_extension():
    """The persistent CUDA kernel (needs nvcc and the CUDA build of torch; not a GPU)."""
    require_cuda_torch()
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

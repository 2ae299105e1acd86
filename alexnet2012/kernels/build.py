"""Build step of the AlexNet kernels: `python -m alexnet2012.kernels.build`.

Compiles csrc/ into one library that registers the ``repro_alexnet`` ops:
ops.cpp and conv_ops.cpp (schemas, checks, the CPU path, the CUDA launch glue; C++ compiler)
and one torch-free .cu file per kernel family (nvcc, seconds each), for sm_90
(H100/H200) plus compute_80 PTX that any newer GPU can JIT. The build is cached
in build/alexnet2012_kernels/ (or $REPRO_BUILD_DIR) and redone when a source
changes. With a CPU-only torch, or no nvcc, only the CPU path is built.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import cache
from pathlib import Path

from repro.native_build import BuildError, cuda_home, load_extension

CSRC = Path(__file__).resolve().parent / "csrc"
FAMILY = "alexnet2012_kernels"
KERNEL_FILES = ("lrn.cu", "maxpool.cu", "bias_relu.cu", "dropout.cu", "softmax_xent.cu", "conv.cu")
OP_FILES = ("ops.cpp", "conv_ops.cpp")  # torch-side: schemas, checks, CPU path, launch glue
CUDA_ARCH_FLAGS = ["-gencode=arch=compute_90,code=sm_90", "-gencode=arch=compute_80,code=compute_80"]
__all__ = ["BuildError", "build", "has_cuda_kernels"]


def has_cuda_kernels() -> bool:
    """Whether this torch and toolkit build the CUDA kernels (no GPU needed)."""
    import torch

    return torch.version.cuda is not None and cuda_home() is not None


@cache
def build() -> Path:
    """Compile (or reuse) the library and load it into torch.ops.repro_alexnet; returns its path."""
    common = dict(extra_include_paths=[str(CSRC)], is_python_module=False)
    if has_cuda_kernels():
        return Path(load_extension(
            FAMILY, "alexnet_kernels", [*(CSRC / f for f in OP_FILES), *(CSRC / f for f in KERNEL_FILES)],
            extra_cflags=["-O3", "-DREPRO_WITH_CUDA"],
            extra_cuda_cflags=["-O3", "-lineinfo", "-std=c++17", *CUDA_ARCH_FLAGS], **common))
    return Path(load_extension(FAMILY, "alexnet_kernels_cpu", [CSRC / f for f in OP_FILES], extra_cflags=["-O3"], **common))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    t0 = time.perf_counter()
    try:
        path = build()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    what = "CPU path and CUDA kernels" if has_cuda_kernels() else "CPU path only (no CUDA toolkit or CPU-only torch)"
    print(f"built the AlexNet kernels ({what}) in {time.perf_counter() - t0:.1f} s: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build step of the AlexNet kernels: `python -m alexnet2012.kernels.build`.

Compiles csrc/ into one library that defines the ``repro_alexnet`` ops, two
files per kernel family: <family>_ops.cpp (the op schemas, checks, the CPU
path and the CUDA launch glue; C++ compiler, torch headers) and <family>.cu
(the CUDA kernels, torch-free: nvcc, seconds each), for sm_90 (H100/H200) plus
compute_80 PTX that any newer GPU can JIT. With a CPU-only torch, or no nvcc,
only the .cpp files are built (the CPU path).

Nothing calls this at import time: ``library.ensure_built()`` does, the first
time an op is called or a custom layer is constructed (see README.md here).

The cache: build/alexnet2012_kernels/ (or $REPRO_BUILD_DIR), one folder per
cache key, a hash of what the object files depend on besides their own sources
(the torch and CUDA versions, the Python ABI, the compiler flags and the list of
source files). Inside it torch's ninja build redoes only the objects whose
source or included csrc/ header changed; a library already built from the same
contents (in this checkout or another sharing the cache) is loaded without compiling
(repro.native_build keys each library by the sources' and headers' contents).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from functools import cache
from pathlib import Path

from repro.native_build import BuildError, cuda_home, load_extension

CSRC = Path(__file__).resolve().parent / "csrc"
FAMILY = "alexnet2012_kernels"
FAMILIES = ("lrn", "maxpool", "bias_relu", "dropout", "softmax_xent", "conv")  # one <family>.py in this package each
OP_FILES = tuple(f"{f}_ops.cpp" for f in FAMILIES)  # torch-side: schemas, checks, CPU path, launch glue
KERNEL_FILES = tuple(f"{f}.cu" for f in FAMILIES)  # the CUDA kernels (no torch headers)
CFLAGS = ["-O3"]
CUDA_ARCH_FLAGS = ["-gencode=arch=compute_90,code=sm_90", "-gencode=arch=compute_80,code=compute_80"]
CUDA_CFLAGS = ["-O3", "-lineinfo", "-std=c++17", *CUDA_ARCH_FLAGS]
__all__ = ["BuildError", "build", "cache_key", "has_cuda_kernels", "library_name"]


def has_cuda_kernels() -> bool:
    """Whether this torch and toolkit build the CUDA kernels (no GPU needed)."""
    import torch

    return torch.version.cuda is not None and cuda_home() is not None


def _sources(with_cuda: bool) -> list[str]:
    return [*OP_FILES, *(KERNEL_FILES if with_cuda else ())]


def cache_key(with_cuda: bool) -> str:
    """What the objects depend on beyond their sources' contents (which ninja tracks itself)."""
    import torch

    parts = [torch.__version__, str(torch.version.cuda), f"py{sys.version_info[0]}.{sys.version_info[1]}",
             *_sources(with_cuda), *CFLAGS, *(CUDA_CFLAGS if with_cuda else ())]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def library_name(with_cuda: bool) -> str:
    """The library's (and its cache folder's) name: alexnet_kernels[_cpu]_<cache key>."""
    return f"alexnet_kernels{'' if with_cuda else '_cpu'}_{cache_key(with_cuda)}"


@cache
def build() -> Path:
    """Compile (or reuse) the library and load it, which defines torch.ops.repro_alexnet; returns its path.

    Only the C++ side: ``library.ensure_built()`` calls this, then registers the Python side."""
    with_cuda = has_cuda_kernels()
    sources = [CSRC / f for f in _sources(with_cuda)]
    common = dict(extra_include_paths=[str(CSRC)], is_python_module=False, what="the AlexNet kernels")
    if with_cuda:
        return Path(load_extension(FAMILY, library_name(True), sources, extra_cflags=[*CFLAGS, "-DREPRO_WITH_CUDA"],
                                   extra_cuda_cflags=CUDA_CFLAGS, **common))
    return Path(load_extension(FAMILY, library_name(False), sources, extra_cflags=CFLAGS, **common))


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

"""Compiling the project's C++/CUDA extensions with torch.utils.cpp_extension.

One helper for every era's native code: it finds the CUDA toolkit, compiles into
a cache folder ($REPRO_BUILD_DIR, default <repo>/build/<family>/<name>) that
torch's loader reuses until a source changes, and turns compiler failures into
one `BuildError` that names the sources. CUDA code compiles with nvcc on
machines without a GPU (the CUDA build of torch), so CI proves it builds even
where it cannot run.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR_ENV = "REPRO_BUILD_DIR"


class BuildError(RuntimeError):
    pass


def build_dir(family: str, name: str) -> Path:
    """The cache folder of extension ``name`` (created)."""
    root = Path(os.environ.get(BUILD_DIR_ENV) or REPO / "build" / family)
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def cuda_home() -> str | None:
    """$CUDA_HOME, else the usual toolkit folders. torch's own guess follows
    `which nvcc`, which is wrong where nvcc is linked into /usr/local/bin."""
    for candidate in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if candidate and (Path(candidate) / "bin" / "nvcc").exists():
            return candidate
    return None


def require_cuda_torch() -> None:
    import torch

    if torch.version.cuda is None:
        raise BuildError(f"torch {torch.__version__} is a CPU-only build; install the CUDA build (scripts/setup.sh)")
    if cuda_home() is None:
        raise BuildError("no CUDA toolkit found (nvcc): set CUDA_HOME to the toolkit folder")


def load_extension(family: str, name: str, sources: list[Path], **kwargs):
    """Compile (or reuse the cached build of) ``sources`` and import the module."""
    import torch.utils.cpp_extension as cpp_extension

    home = cuda_home()
    if home is not None:
        cpp_extension.CUDA_HOME = home
    try:
        return cpp_extension.load(name=name, sources=[str(s) for s in sources],
                                  build_directory=str(build_dir(family, name)),
                                  verbose=bool(os.environ.get("REPRO_BUILD_VERBOSE")), **kwargs)
    except Exception as exc:  # compiler errors surface as RuntimeError/CalledProcessError
        raise BuildError(f"building {name} from {', '.join(s.name for s in sources)} failed: {exc}") from exc

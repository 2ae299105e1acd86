"""Compiling the project's C++/CUDA extensions with torch.utils.cpp_extension.

One helper for every era's native code: it finds the CUDA toolkit, compiles into
a cache folder ($REPRO_BUILD_DIR, default <repo>/build/<family>/<name>) that
torch's loader reuses until a source changes, and turns compiler failures into
one `BuildError` that names the sources. CUDA code compiles with nvcc on
machines without a GPU (the CUDA build of torch), so CI proves it builds even
where it cannot run.

A build takes about a minute, so the first use says so before it starts
("building the fused kernel <name> (first use, about a minute)") and how long it
took after ("built <name> in 48 s"); a cached build is loaded silently.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from repro.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR_ENV = "REPRO_BUILD_DIR"
log = logging.getLogger("repro.native_build")


class BuildError(RuntimeError):
    pass


class BuildDirError(BuildError, ConfigError):
    """No folder to build in: a user error (one line, exit 2), naming $REPRO_BUILD_DIR."""


def user_cache(family: str) -> Path:
    """The per-user cache a read-only checkout builds in: $XDG_CACHE_HOME/repro/build/<family>."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repro" / "build" / family


def _unusable(path: Path) -> str | None:
    """Why extensions cannot be built in ``path`` (created if missing), or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".repro-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{exc.filename or path}: {exc.strerror or exc}"
    return None


def build_dir(family: str, name: str) -> Path:
    """The cache folder of extension ``name`` (created): under $REPRO_BUILD_DIR when
    set (a folder that cannot be written there is a BuildDirError), else
    <repo>/build/<family>, else, where the checkout is read-only, the per-user
    cache (said in the log)."""
    configured = os.environ.get(BUILD_DIR_ENV)
    if configured:
        path = Path(configured) / name
        problem = _unusable(path)
        if problem is not None:
            raise BuildDirError(f"${BUILD_DIR_ENV}={configured} cannot hold the compiled kernels ({problem}); "
                                f"point ${BUILD_DIR_ENV} at a folder you can write, or unset it")
        return path
    path = REPO / "build" / family / name
    problem = _unusable(path)
    if problem is None:
        return path
    fallback = user_cache(family) / name
    if _unusable(fallback) is not None:
        raise BuildDirError(f"cannot build the compiled kernels in the checkout ({problem}) nor in {fallback}; "
                            f"set ${BUILD_DIR_ENV} to a folder you can write")
    log.info(f"the checkout's build folder is not writable ({problem}): building in {fallback} "
             f"(set ${BUILD_DIR_ENV} to choose another)")
    return fallback


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


def needs_build(folder: Path, name: str, sources: list[Path]) -> bool:
    """True unless ``folder`` holds a built library of ``name`` newer than every
    source (torch's own check also hashes flags; this one only decides whether
    to announce a build)."""
    built = [p for p in folder.glob(f"{name}*.so") if p.is_file()]
    if not built:
        return True
    newest_source = max((Path(s).stat().st_mtime for s in sources if Path(s).exists()), default=0.0)
    return max(p.stat().st_mtime for p in built) < newest_source


def _cpp_extension():
    """torch.utils.cpp_extension, imported without the warning its first import logs on a
    machine without a GPU ("No CUDA runtime is found, using CUDA_HOME=..."): expected there
    (CUDA code compiles with nvcc all the same), and cuda_home() picks the toolkit anyway."""
    quiet = logging.getLogger("torch.utils.cpp_extension")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        import torch.utils.cpp_extension as cpp_extension
    finally:
        quiet.setLevel(level)
    return cpp_extension


def load_extension(family: str, name: str, sources: list[Path], what: str = "the fused kernel", **kwargs):
    """Compile (or reuse the cached build of) ``sources`` and import the module.
    ``what`` names it in the build messages."""
    cpp_extension = _cpp_extension()
    home = cuda_home()
    if home is not None:
        cpp_extension.CUDA_HOME = home
    folder = build_dir(family, name)
    announce = needs_build(folder, name, sources)
    if announce:
        log.info(f"building {what} {name} (first use, about a minute)")
    started = time.perf_counter()
    try:
        module = cpp_extension.load(name=name, sources=[str(s) for s in sources], build_directory=str(folder),
                                    verbose=bool(os.environ.get("REPRO_BUILD_VERBOSE")), **kwargs)
    except Exception as exc:  # compiler errors surface as RuntimeError/CalledProcessError
        raise BuildError(f"building {name} from {', '.join(s.name for s in sources)} failed: {exc}") from exc
    if announce:
        log.info(f"built {name} in {time.perf_counter() - started:.0f} s (cached in {folder})")
    return module

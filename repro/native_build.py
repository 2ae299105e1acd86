"""Compiling the project's C++/CUDA extensions with torch.utils.cpp_extension.

One helper for every era's native code: it finds the CUDA toolkit, compiles into
a cache folder ($REPRO_BUILD_DIR, default <repo>/build/<family>), and turns compiler
failures into one `BuildError` that names the sources. CUDA code compiles with nvcc
on machines without a GPU (the CUDA build of torch), so CI proves it builds even
where it cannot run.

The cache is keyed by what is compiled, not by where it lies: a built library is kept
under <cache>/<name>/by-content/<key>/, the key a hash of the sources' and their folders'
headers' contents, the flags, the torch, CUDA and Python versions, the compilers' versions
and, for -march=native, the CPU. A library whose key is there is loaded as it is, with no
compiler or ninja run, so checkouts of the same code that share one REPRO_BUILD_DIR build
once. A build copies the sources into <cache>/<name>/src/ first and compiles them there
(torch's ninja build in <cache>/<name>/), so its command lines never name the checkout:
between two versions of the sources, ninja recompiles only the files that differ.

Every build says so before it starts, in one line ("building the fused kernel <name>
(...)"), and how long it took after ("built <name> in 48 s"); a cached library loads
silently. (torch's own check decides nothing here: it hashes the folder a source lies in.)
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from repro.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR_ENV = "REPRO_BUILD_DIR"
HEADERS = (".h", ".hh", ".hpp", ".cuh", ".inc", ".inl")  # what a source may include from its folder
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


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _folders(sources: Sequence[Path], include_paths: Sequence[str]) -> list[Path]:
    """The folders whose headers a build can include: the sources' own, then the include paths."""
    return list(dict.fromkeys([*(Path(s).resolve().parent for s in sources), *(Path(i).resolve() for i in include_paths)]))


def _headers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in HEADERS and p.is_file()) if folder.is_dir() else []


@cache
def _tool_version(*command: str) -> str:
    """A compiler's own statement of its version ("" when it cannot be run: the build will say why)."""
    try:
        out = subprocess.run(list(command), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return " ".join((out.stdout or out.stderr).split())


@cache
def _cpu() -> str:
    """The CPU's model and features (what -march=native compiles for)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return "; ".join(dict.fromkeys(line for line in lines if line.split(":")[0].strip() in ("model name", "flags")))


def content_key(name: str, sources: Sequence[Path], **kwargs) -> str:
    """The cache key of a build: everything the library depends on, nothing about where the sources lie.

    The sources' contents (in order) and every header of their folders and include paths (by name and
    content), the flags, whether it is a Python module, the torch, CUDA and Python versions, the C++
    compiler's (and, with .cu sources, nvcc's) version, and the CPU where -march=native asks for it."""
    import torch

    parts = [name, f"python {sys.version_info[0]}.{sys.version_info[1]} {platform.machine()}",
             f"torch {torch.__version__} cuda {torch.version.cuda}",
             _tool_version(os.environ.get("CXX", "c++"), "--version")]
    if any(Path(s).suffix == ".cu" for s in sources):
        home = cuda_home()
        parts.append(_tool_version(str(Path(home) / "bin" / "nvcc"), "--version") if home else "no nvcc")
    parts += [f"source {Path(s).name} {_digest(Path(s))}" for s in sources]
    for i, folder in enumerate(_folders(sources, kwargs.get("extra_include_paths") or [])):
        parts += [f"header {i} {h.name} {_digest(h)}" for h in _headers(folder)]
    for flag in ("extra_cflags", "extra_cuda_cflags", "extra_ldflags", "is_python_module", "with_cuda"):
        parts.append(f"{flag} {kwargs.get(flag)!r}")
    if any("-march=native" in str(f) for f in [*(kwargs.get("extra_cflags") or []), *(kwargs.get("extra_cuda_cflags") or [])]):
        parts.append(_cpu())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _stage(folder: Path, sources: Sequence[Path], include_paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Copy the sources and their folders' headers into ``folder``/src/<i>/ (a file rewritten only where its
    content changed, so ninja recompiles only what differs); the staged sources and include paths."""
    staged: dict[Path, Path] = {}
    for i, src_folder in enumerate(_folders(sources, include_paths)):
        dest = folder / "src" / str(i)
        dest.mkdir(parents=True, exist_ok=True)
        wanted = {h.name: h for h in _headers(src_folder)}
        wanted.update({Path(s).name: Path(s) for s in sources if Path(s).resolve().parent == src_folder})
        for old in dest.iterdir():  # a header since removed must not stay includable
            if old.name not in wanted and old.is_file():
                old.unlink()
        for file_name, src in wanted.items():
            target = dest / file_name
            data = src.read_bytes()
            if not target.is_file() or target.read_bytes() != data:
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(target)
        staged[src_folder] = dest
    new_sources = [staged[Path(s).resolve().parent] / Path(s).name for s in sources]
    new_includes = [str(staged[Path(i).resolve()]) for i in include_paths]
    return new_sources, new_includes


@contextmanager
def _locked(folder: Path):
    """One builder per cache folder at a time (another process waits, then finds the library built)."""
    with open(folder / "repro.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _say(message: str) -> None:
    """A build's line: logged where logging is set up (the apps), else on stderr, so it is always seen."""
    if log.isEnabledFor(logging.INFO) and log.hasHandlers():
        log.info(message)
    else:
        print(message, file=sys.stderr, flush=True)


def _import(name: str, library: Path, is_python_module: bool):
    """Load a built library as cpp_extension.load would: a Python module, or a library of torch ops (its path)."""
    cpp_extension = _cpp_extension()
    if is_python_module:
        return cpp_extension._import_module_from_library(name, str(library.parent), True)
    import torch

    torch.ops.load_library(str(library))
    return str(library)


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
    """Load the cached build of ``sources`` (content_key), or compile it, saying so, and load it.
    ``what`` names it in the build messages; ``kwargs`` go to cpp_extension.load."""
    cpp_extension = _cpp_extension()
    home = cuda_home()
    if home is not None:
        cpp_extension.CUDA_HOME = home
    folder = build_dir(family, name)
    sources = [Path(s) for s in sources]
    try:
        key = content_key(name, sources, **kwargs)
    except OSError as exc:  # a source or header that cannot be read
        raise BuildError(f"building {name}: cannot read its sources ({exc})") from exc
    is_python_module = kwargs.get("is_python_module", True)
    store = folder / "by-content" / key
    library = store / f"{name}.so"
    if library.is_file():  # built before from exactly these sources, flags and compilers, wherever they lay
        return _import(name, library, is_python_module)
    with _locked(folder):
        if library.is_file():  # another process built it while this one waited
            return _import(name, library, is_python_module)
        _say(f"building {what} {name} (new to the cache for these sources, flags and compilers; about a minute)")
        started = time.perf_counter()
        staged, includes = _stage(folder, sources, kwargs.pop("extra_include_paths", None) or [])
        try:
            module = cpp_extension.load(name=name, sources=[str(s) for s in staged], build_directory=str(folder),
                                        extra_include_paths=includes,
                                        verbose=bool(os.environ.get("REPRO_BUILD_VERBOSE")), **kwargs)
        except Exception as exc:  # compiler errors surface as RuntimeError/CalledProcessError
            raise BuildError(f"building {name} from {', '.join(s.name for s in sources)} failed: {exc}") from exc
        built = folder / f"{name}.so"
        if built.is_file():  # kept by content: the next process loads it without compiling
            store.mkdir(parents=True, exist_ok=True)
            tmp = store / f".{name}.so.{os.getpid()}"
            shutil.copy2(built, tmp)
            tmp.replace(library)
        _say(f"built {name} in {time.perf_counter() - started:.0f} s (cached in {store})")
    return module

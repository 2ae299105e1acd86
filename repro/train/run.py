"""Claim a run directory for one run: the part of a run every era shares before training.

    with claim_run(run_dir, config, resume=resume) as claimed:
        if claimed.finished is not None:   # resume=true over a finished run
            return claimed.finished
        ...build the task...
        return fit(task, trainer, claimed.run, ...)

Claiming first checks that the folder is ours to use, then takes its lock,
then decides, before writing anything:

- a folder may be claimed only if it is absent, empty, or a run record of ours
  (every entry a name a run writes, `RECORD_NAMES`, and one of our marks:
  `.lock`, `.hydra/`, checkpoint.pt, metrics.json); anything else (a user's own
  config.yaml, history.csv, notes.txt...) is refused and never touched;
- a finished record (metrics.json) or an interrupted one (checkpoint.pt) is
  never overwritten: without resume=true the run is refused;
- with resume=true the requested config must equal the recorded one
  (config.yaml), apart from the keys that may differ (checkpoint.RESUME_IGNORED: `resume`, `trainer.progress`, the `logger` group);
  a difference is refused in one line naming the keys.

A refused run (foreign, locked, finished, interrupted, different config) changes
nothing in the folder. Nor does one refused later, inside the claim (a data
error, a bad value found while building the task, any exception before the
run's training wrote its first record file): the claim puts the folder back
as it found it (`_Snapshot`: names, bytes, mtimes; a folder it created is
removed), so every check that can refuse is covered wherever it runs. A run that goes on first removes the temporary files a
killed write left behind (atomic.remove_stale_temps). A fresh start then writes
the folder's provenance, once: config.yaml (the resolved config) and the files
the launching app hands over with ``provenance(...)`` (repro/app.py: Hydra's
.hydra/config.yaml, hydra.yaml, overrides.yaml). A resumed run keeps the
provenance of the run that started the folder.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import logging
import math
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .atomic import is_temp_name, remove_stale_temps, write_text_atomic
from .checkpoint import ADDED_KEYS, ResumeError, resume_ignored
from .distributed import current_world
from .record import CHECKPOINT, CONFIG, DIVERGED, ENVIRONMENT, HISTORY, METRICS, RunDir, divergence_reason, read_record

LOCK = ".lock"
PROVENANCE_DIR = ".hydra"  # where repro/app.py records Hydra's config, hydra and overrides files

log = logging.getLogger("repro")

# Every name a run of ours writes in its folder: the record (record.py), the eras'
# artifacts (lecun1989/artifacts.py, rejection.py; alexnet2012's model.pt), the
# loggers' (logger.py), the app's log (cli.log) and provenance (.hydra/), the lock;
# plus write_atomic's temporary files. A folder holding any other name is not ours.
RECORD_FILES = frozenset({CONFIG, ENVIRONMENT, HISTORY, CHECKPOINT, METRICS, LOCK, "cli.log", "model.pt",
                          "misclassified.npz", "rejection.npz", "scalars.csv"})
RECORD_DIRS = {PROVENANCE_DIR: frozenset({"config.yaml", "hydra.yaml", "overrides.yaml"}), "tensorboard": None}
RECORD_NAMES = RECORD_FILES | RECORD_DIRS.keys()
# What only a run of ours leaves (a user's own config.yaml and history.csv carry none of these).
MARKS = (METRICS, CHECKPOINT, LOCK, PROVENANCE_DIR)

# relative path -> text: what the launching app records beside config.yaml once
# a run owns its folder (set by repro/app.py around one run; empty otherwise).
_provenance: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("repro_provenance", default={})


# Folder names the launching app itself wrote into the run folder before the run (Hydra's
# own output_subdir, when a user sets hydra.output_subdir): part of the run's record.
_app_dirs: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("repro_app_dirs", default=frozenset())


@contextlib.contextmanager
def provenance(files: Mapping[str, str], app_dirs: frozenset[str] = frozenset()) -> Iterator[None]:
    """Within this block, a run that claims a folder afresh also writes ``files``
    (paths relative to the run directory -> text) there, after taking the lock.
    ``app_dirs``: folders the app made in the run folder before the run (not foreign)."""
    token, dirs = _provenance.set(dict(files)), _app_dirs.set(frozenset(app_dirs))
    try:
        yield
    finally:
        _provenance.reset(token)
        _app_dirs.reset(dirs)


@dataclass(frozen=True)
class Claimed:
    run: RunDir
    finished: dict[str, Any] | None  # the metrics of a finished run read back with resume=true, else None


@contextlib.contextmanager
def claim_run(run_dir: Path, config: Mapping[str, Any], *, resume: bool) -> Iterator[Claimed]:
    run = RunDir(Path(run_dir))
    refuse_foreign(run.path)  # before anything is written: not even the lock file goes into a foreign folder
    # Under torchrun every process makes the same checks on the same files
    # (so all refuse or all go on); only rank 0 locks and writes the record.
    main = current_world().is_main
    before = _Snapshot.take(run.path) if main else None
    run.path.mkdir(parents=True, exist_ok=True)
    locked = False
    try:
        with exclusive(run) if main else contextlib.nullcontext():
            locked = True
            try:
                refuse_foreign(run.path)  # again, now that no other run can be writing there
                yield from _claim(run, config, resume, main)
            except Exception:
                # Refused after the folder was claimed (a data error, a bad value found while
                # building the task...), before training wrote a record: put the folder back.
                _owned.discard(_key(run.path))
                if before is not None and not before.training_wrote(run):
                    before.restore()
                raise
    except Exception:
        if not locked and before is not None:
            before.remove_created()  # the lock was refused: only what mkdir made, if anything
        raise


def _claim(run: RunDir, config: Mapping[str, Any], resume: bool, main: bool) -> Iterator[Claimed]:
    if run.is_finished():  # complete or diverged
        if not resume:
            raise ResumeError(
                f"{run.path} already holds a finished run (metrics.json); it is never overwritten. "
                "Choose another hydra.run.dir / hydra.sweep.dir, or pass resume=true to read it back."
            )
        check_same_config(run, config)
        if main:
            _remove_stale_temps(run)
        finished = read_record(run.path)
        said = divergence_reason(finished.get("diverged") or {}) if finished["status"] == DIVERGED else None
        log.info(f"{run.path} {said or 'is already complete'}; nothing to resume")
        yield Claimed(run, finished)
        return
    if run.checkpoint.exists():
        if not resume:
            raise ResumeError(
                f"{run.path} holds an interrupted run (checkpoint.pt); it is never overwritten. "
                "Pass resume=true to continue it, or choose another hydra.run.dir / hydra.sweep.dir."
            )
        check_same_config(run, config)
        _owned.add(_key(run.path))
        if main:
            _remove_stale_temps(run)
        yield Claimed(run, None)
        return
    # A fresh start (resume=true included, when there is no checkpoint to resume).
    _owned.add(_key(run.path))
    if main:
        _remove_stale_temps(run)
        write_text_atomic(run.config, yaml.safe_dump(dict(config), sort_keys=False))
        for name, text in _provenance.get().items():
            write_text_atomic(run.path / name, text)
    yield Claimed(run, None)


# The run folders this process has claimed to write in (its cli.log is written only then: repro/app.py).
_owned: set[str] = set()


def _key(path: Path) -> str:
    return os.path.abspath(path)


def owns(folder: str | os.PathLike[str]) -> bool:
    """Whether a run of this process has claimed ``folder`` to write its record there."""
    return _key(Path(folder)) in _owned


def foreign_entries(folder: Path) -> list[str]:
    """The entries of ``folder`` no run of ours writes (RECORD_NAMES, temporary files)."""
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = entry.name
        if is_temp_name(name) and entry.is_file(follow_symlinks=False):
            continue
        if name in RECORD_FILES and entry.is_file(follow_symlinks=False):
            continue
        if name in _app_dirs.get() and entry.is_dir(follow_symlinks=False):
            continue
        if name in RECORD_DIRS and entry.is_dir(follow_symlinks=False):
            allowed = RECORD_DIRS[name]
            out += [f"{name}/{n}" for n in (foreign_entries_in(Path(entry.path), allowed) if allowed else [])]
            continue
        out.append(name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
    return out


def foreign_entries_in(folder: Path, allowed: frozenset[str]) -> list[str]:
    return [e.name for e in sorted(os.scandir(folder), key=lambda e: e.name)
            if not (e.is_file(follow_symlinks=False) and (e.name in allowed or is_temp_name(e.name)))]


def refuse_foreign(folder: Path) -> None:
    """ResumeError unless ``folder`` is absent, empty, or a run record of ours: a run
    never writes beside (or over) files it did not make."""
    if not os.path.lexists(folder):
        return
    if not folder.is_dir():
        raise ResumeError(f"{folder} is a file, not a folder; choose another hydra.run.dir / hydra.sweep.dir")
    try:
        names = sorted(set(os.listdir(folder)) - _app_dirs.get())  # the app's own folder alone: as empty
        foreign = foreign_entries(folder)
    except OSError as exc:
        raise ResumeError(f"cannot read {folder} ({exc.strerror or exc}); choose another hydra.run.dir") from None
    if not names:
        return
    choose = "it is left untouched: choose another hydra.run.dir / hydra.sweep.dir (a new or empty folder)"
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ResumeError(f"{folder} holds files that are not part of a run record ({shown}); {choose}")
    if not any(m in names for m in MARKS) and not any(map(is_temp_name, names)):  # a killed write of ours
        raise ResumeError(f"{folder} holds {', '.join(names)} but no run record of ours (no {', '.join(MARKS)}); {choose}")


class _Snapshot:
    """A folder as a claim found it (names, small files' bytes, sizes, mtimes), to put
    it back when the run is refused after the claim. Files a run only appends to or
    never rewrites before training (cli.log, checkpoint.pt) are kept by size."""

    SMALL = 1 << 20  # bytes kept for files up to 1 MiB (config.yaml, .hydra/*, environment.json...)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.existed = self.path.is_dir()
        self.files: dict[str, tuple[os.stat_result, bytes | None]] = {}
        self.dirs: dict[str, os.stat_result] = {}
        # The folders mkdir(parents=True) creates: those from the first missing one down.
        top = Path(os.path.abspath(self.path))
        while not os.path.lexists(top.parent) and top.parent != top:
            top = top.parent
        self.created_top = None if self.existed else top

    @classmethod
    def take(cls, path: Path) -> _Snapshot:
        snap = cls(path)
        if not snap.existed:
            return snap
        for root, dirnames, filenames in os.walk(snap.path):
            rel = os.path.relpath(root, snap.path)
            snap.dirs[rel] = os.stat(root)
            for name in filenames:
                full = os.path.join(root, name)
                st = os.lstat(full)
                data = None
                if stat.S_ISREG(st.st_mode) and st.st_size <= cls.SMALL:
                    with contextlib.suppress(OSError):
                        data = Path(full).read_bytes()
                snap.files[os.path.normpath(os.path.join(rel, name))] = (st, data)
        return snap

    def training_wrote(self, run: RunDir) -> bool:
        """Whether training wrote a record file since the claim (then nothing is put back)."""
        for name in (CHECKPOINT, METRICS, HISTORY):
            old = self.files.get(name)
            try:
                st = os.stat(run.path / name)
            except FileNotFoundError:
                if old is not None:
                    return True
                continue
            if old is None or (st.st_mtime_ns, st.st_size) != (old[0].st_mtime_ns, old[0].st_size):
                return True
        return False

    def remove_created(self) -> None:
        """Remove the folders this claim created, if they are still empty but for what it wrote."""
        if self.created_top is None:
            return
        shutil.rmtree(self.created_top, ignore_errors=True)

    def restore(self) -> None:
        if not self.existed:
            self.remove_created()
            return
        for root, dirnames, filenames in os.walk(self.path, topdown=False):
            rel = os.path.relpath(root, self.path)
            for name in filenames:
                key = os.path.normpath(os.path.join(rel, name))
                if key not in self.files:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(root, name))
            for name in dirnames:
                key = os.path.normpath(os.path.join(rel, name))
                full = os.path.join(root, name)
                if key not in self.dirs:
                    if os.path.islink(full):
                        with contextlib.suppress(OSError):
                            os.unlink(full)
                    else:
                        shutil.rmtree(full, ignore_errors=True)
        for key, (st, data) in self.files.items():
            full = self.path / key
            try:
                now = os.lstat(full)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_size, now.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                continue
            with contextlib.suppress(OSError):
                if data is not None:
                    full.parent.mkdir(parents=True, exist_ok=True)
                    full.write_bytes(data)
                elif now is not None and now.st_size > st.st_size:
                    os.truncate(full, st.st_size)  # a log appended to
                os.utime(full, ns=(st.st_atime_ns, st.st_mtime_ns))
        for key in sorted(self.dirs, key=lambda k: -k.count(os.sep) - (k != ".")):
            st = self.dirs[key]
            with contextlib.suppress(OSError):
                os.utime(self.path / key, ns=(st.st_atime_ns, st.st_mtime_ns))


def check_same_config(run: RunDir, config: Mapping[str, Any]) -> None:
    """Refuse (ResumeError, one line naming the keys) a resume whose config
    differs from the one recorded in ``run``'s config.yaml, apart from
    RESUME_IGNORED. Without a readable config.yaml there is nothing to compare
    here (an interrupted run's checkpoint is still compared when it is loaded)."""
    try:
        recorded = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())  # one line, whatever the YAML parser says
        raise ResumeError(f"cannot resume {run.path}: its recorded config {run.config} is unreadable ({reason})") from None
    if not isinstance(recorded, Mapping):
        raise ResumeError(f"cannot resume {run.path}: its recorded config {run.config} is not a mapping")
    diffs = config_changes(recorded, config)
    if diffs:
        raise ResumeError(
            f"cannot resume {run.path}: the config differs from the recorded one (config.yaml) in "
            + ", ".join(diffs)
            + "; resume with the recorded overrides (.hydra/overrides.yaml) or choose another hydra.run.dir / hydra.sweep.dir"
        )


def config_changes(recorded: Mapping[str, Any], requested: Mapping[str, Any]) -> list[str]:
    """``key (recorded X, now Y)`` for each dotted key whose value differs, outside RESUME_IGNORED.
    An empty mapping is a value of its own (``trick: {relu: {}}`` is not ``trick: {}``)."""
    out: list[str] = []
    _changes(recorded, requested, "", out)
    return out


_ABSENT = object()


def _changes(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    for key in sorted(a.keys() | b.keys(), key=str):
        name = f"{prefix}{key}"
        # A key added after the run was recorded (data.val_size...) reads as its old meaning.
        old, new = (m.get(key, ADDED_KEYS.get(name, _ABSENT)) for m in (a, b))
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            _changes(old, new, name + ".", out)
        elif not resume_ignored(name) and not _same(old, new):
            out.append(f"{name} (recorded {_short(old)}, now {_short(new)})")


def _same(old: Any, new: Any) -> bool:
    both_nan = isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new)
    return both_nan or (old is not _ABSENT and new is not _ABSENT and old == new)


def _short(value: Any, limit: int = 40) -> str:
    text = "<absent>" if value is _ABSENT else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _remove_stale_temps(run: RunDir) -> None:
    removed = [*remove_stale_temps(run.path), *remove_stale_temps(run.path / PROVENANCE_DIR)]
    if removed:
        log.info(f"{run.path}: removed {len(removed)} temporary file(s) a killed write left behind: "
                 + ", ".join(str(p.relative_to(run.path)) for p in removed))


@contextlib.contextmanager
def exclusive(run: RunDir):
    """Hold an exclusive lock on the run directory for the whole run, so two
    processes (say, two sweeps given the same sweep dir) never write one record.
    A refused run removes the lock file it made (`_Snapshot.restore`): a lock
    taken on a file no longer at its path is another run's leftover, not the lock."""
    with open(run.path / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _same_file(handle, run.path / LOCK):
                raise BlockingIOError
        except BlockingIOError:
            raise ResumeError(f"{run.path} is in use by another run (locked: {run.path / LOCK})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _same_file(handle, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(handle.fileno())
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

"""Claim a run directory for one run: the part of a run every era shares before training.

    with claim_run(run_dir, config, resume=resume) as claimed:
        if claimed.finished is not None:   # resume=true over a finished run
            return claimed.finished
        ...build the task...
        return fit(task, trainer, claimed.run, ...)

Claiming takes the directory's lock, then decides, before writing anything:

- a finished record (metrics.json) or an interrupted one (checkpoint.pt) is
  never overwritten: without resume=true the run is refused;
- with resume=true the requested config must equal the recorded one
  (config.yaml), apart from the keys that may differ (checkpoint.RESUME_IGNORED: `resume`, `trainer.progress`, the `logger` group);
  a difference is refused in one line naming the keys.

A refused run (locked, finished, interrupted, different config) changes
nothing in the folder. A run that goes on first removes the temporary files a
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .atomic import remove_stale_temps, write_text_atomic
from .checkpoint import ADDED_KEYS, ResumeError, resume_ignored
from .distributed import current_world
from .record import DIVERGED, RunDir, divergence_reason, read_record

LOCK = ".lock"
PROVENANCE_DIR = ".hydra"  # where repro/app.py records Hydra's config, hydra and overrides files

log = logging.getLogger("repro")

# relative path -> text: what the launching app records beside config.yaml once
# a run owns its folder (set by repro/app.py around one run; empty otherwise).
_provenance: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("repro_provenance", default={})


@contextlib.contextmanager
def provenance(files: Mapping[str, str]) -> Iterator[None]:
    """Within this block, a run that claims a folder afresh also writes ``files``
    (paths relative to the run directory -> text) there, after taking the lock."""
    token = _provenance.set(dict(files))
    try:
        yield
    finally:
        _provenance.reset(token)


@dataclass(frozen=True)
class Claimed:
    run: RunDir
    finished: dict[str, Any] | None  # the metrics of a finished run read back with resume=true, else None


@contextlib.contextmanager
def claim_run(run_dir: Path, config: Mapping[str, Any], *, resume: bool) -> Iterator[Claimed]:
    run = RunDir(Path(run_dir))
    run.path.mkdir(parents=True, exist_ok=True)
    # Under torchrun every process makes the same checks on the same files
    # (so all refuse or all go on); only rank 0 locks and writes the record.
    main = current_world().is_main
    with exclusive(run) if main else contextlib.nullcontext():
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
            if main:
                _remove_stale_temps(run)
            yield Claimed(run, None)
            return
        # A fresh start (resume=true included, when there is no checkpoint to resume).
        if main:
            _remove_stale_temps(run)
            write_text_atomic(run.config, yaml.safe_dump(dict(config), sort_keys=False))
            for name, text in _provenance.get().items():
                write_text_atomic(run.path / name, text)
        yield Claimed(run, None)


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
    processes (say, two sweeps given the same sweep dir) never write one record."""
    with open(run.path / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResumeError(f"{run.path} is in use by another run (locked: {run.path / LOCK})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

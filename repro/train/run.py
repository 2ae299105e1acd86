"""Claim a run directory for one run: the part of a run every era shares before training.

    with claim_run(run_dir, config, resume=resume) as claimed:
        if claimed.finished is not None:   # resume=true over a finished run
            return claimed.finished
        ...build the task...
        return fit(task, trainer, claimed.run, ...)

Claiming takes the directory's lock, refuses to overwrite a finished or
interrupted record, and writes the resolved config first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text_atomic
from .checkpoint import ResumeError
from .distributed import current_world
from .record import RunDir, read_metrics

LOCK = ".lock"

log = logging.getLogger("repro")


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
        if run.is_complete():
            if not resume:
                raise ResumeError(
                    f"{run.path} already holds a finished run (metrics.json); it is never overwritten. "
                    "Choose another hydra.run.dir / hydra.sweep.dir, or pass resume=true to read it back."
                )
            log.info(f"{run.path} is already complete; nothing to resume")
            yield Claimed(run, read_metrics(run.path))
            return
        if run.checkpoint.exists() and not resume:
            raise ResumeError(
                f"{run.path} holds an interrupted run (checkpoint.pt); it is never overwritten. "
                "Pass resume=true to continue it, or choose another hydra.run.dir / hydra.sweep.dir."
            )
        if main:
            write_text_atomic(run.config, yaml.safe_dump(dict(config), sort_keys=False))
        yield Claimed(run, None)


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

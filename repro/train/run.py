"""Run one experiment into one directory: the part of a run every era shares.

The era hands over its resolved config and a builder; this writes the config
first, skips work already finished, and calls the loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text_atomic
from .distributed import current_world
from .loop import ResumeError, TrainerConfig, TrainTask, fit
from .record import RunDir, read_metrics

LOCK = ".lock"

log = logging.getLogger("repro")


def execute(
    run_dir: Path,
    config: Mapping[str, Any],
    trainer: TrainerConfig,
    build: Callable[[], tuple[TrainTask, Mapping[str, Any]]],
    *,
    seed: int,
    resume: bool,
    on_step=(),
) -> dict[str, Any]:
    """``build`` returns the task and metadata to store with the metrics
    (era, data set, model counts...). It is only called when work remains."""
    run = RunDir(Path(run_dir))
    run.path.mkdir(parents=True, exist_ok=True)
    # Under torchrun every process makes the same checks on the same files
    # (so all refuse or all go on); only rank 0 locks and writes the record.
    main = current_world().is_main
    with exclusive(run) if main else contextlib.nullcontext():
        if run.is_complete():
            if resume:
                log.info(f"{run.path} is already complete; nothing to resume")
                return read_metrics(run.path)
            raise ResumeError(
                f"{run.path} already holds a finished run (metrics.json); it is never overwritten. "
                "Choose another hydra.run.dir / hydra.sweep.dir, or pass resume=true to read it back."
            )
        if run.checkpoint.exists() and not resume:
            raise ResumeError(
                f"{run.path} holds an interrupted run (checkpoint.pt); it is never overwritten. "
                "Pass resume=true to continue it, or choose another hydra.run.dir / hydra.sweep.dir."
            )
        if main:
            write_text_atomic(run.config, yaml.safe_dump(dict(config), sort_keys=False))
        task, meta = build()
        return fit(task, trainer, run, seed=seed, config=config, resume=resume, meta=meta, log=log.info, on_step=on_step)


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

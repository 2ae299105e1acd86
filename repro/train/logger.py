"""Experiment loggers for watching a run as it trains: the `logger` config group
(none, csv, tensorboard; stored in Hydra's ConfigStore by `register_configs`, so
both apps have it in one place and list it in --help), used by every era through
one hook in the shared loop (loop.py). Default none: history.csv already holds
every pass's rate, losses and errors, and the console its `pass k/N` lines.

What is logged, for every era alike:
- `train/loss`: the mean training loss over the last `every_steps` steps (over
  a whole chunk where a fused backend trains several steps per call), at the
  global step where it ends;
- `lr`: the learning rate at that step;
- at the end of every pass, each numeric column of its history.csv row
  (`pass/test_error`, `pass/train_step_loss`, `pass/lr`, times...), at the
  pass's last global step.

`csv` writes scalars.csv in the run folder (step, pass, name, value; one row
per scalar). `tensorboard` writes event files into <run>/tensorboard/ (open with
`tensorboard --logdir outputs`); it needs the optional package
(`pip install tensorboard`, or `pip install -e .[tensorboard]`). A resumed run
continues both where its checkpoint left off: what was logged after the
checkpoint is dropped (csv) or purged (TensorBoard's purge_step), then logged
again as the steps are retrained.

Only one process logs (rank 0 under torchrun).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from repro.config import ConfigError, parse

SCALARS_CSV = "scalars.csv"
TENSORBOARD_DIR = "tensorboard"
CSV_FIELDS = ("step", "pass", "name", "value")


@dataclass(frozen=True)
class LoggerConfig:
    name: Literal["none", "csv", "tensorboard"] = "none"
    every_steps: int = 100  # the training loss and rate every k optimizer steps

    def validate(self) -> None:
        if self.every_steps < 1:
            raise ValueError("every_steps must be >= 1")


LOGGERS = ("none", "csv", "tensorboard")


def register_configs() -> None:
    """The `logger` group's options, `logger=csv` and so on (idempotent)."""
    from hydra.core.config_store import ConfigStore

    for name in LOGGERS:
        ConfigStore.instance().store(group="logger", name=name, node={"name": name, "every_steps": 100},
                                     provider="repro")


def logger_config(config: Mapping[str, Any]) -> LoggerConfig:
    """The run's `logger` section (absent in records made before the group existed: none)."""
    return parse(LoggerConfig, config.get("logger") or {}, "logger")


class RunLogger:
    """Logs nothing (logger=none); the base of the others."""

    def scalar(self, name: str, value: float, step: int, epoch: int) -> None:
        pass

    def close(self) -> None:
        pass


class CsvLogger(RunLogger):
    """scalars.csv: one row per scalar, flushed at every write, so a reader
    (or `tail -f`) sees each value as it is logged."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        if resume_step is not None and path.exists():
            _drop_after(path, resume_step)
        fresh = not path.exists() or path.stat().st_size == 0
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file)
        if fresh:
            self.writer.writerow(CSV_FIELDS)
            self.file.flush()

    def scalar(self, name: str, value: float, step: int, epoch: int) -> None:
        self.writer.writerow([step, epoch + 1, name, repr(float(value))])
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _drop_after(path: Path, step: int) -> None:
    """Keep the rows logged up to ``step`` (the checkpoint a run resumes from)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step] if rows else []
    buffer = io.StringIO()
    csv.writer(buffer).writerows(kept)
    path.write_text(buffer.getvalue())


class TensorBoardLogger(RunLogger):
    def __init__(self, folder: Path, resume_step: int | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch raises ImportError naming tensorboard when it is absent
            raise ConfigError("logger=tensorboard needs the tensorboard package: pip install tensorboard "
                              "(or pip install -e .[tensorboard]); logger=csv needs nothing") from exc
        # purge_step: a resumed run hides what was logged after its checkpoint.
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=resume_step)

    def scalar(self, name: str, value: float, step: int, epoch: int) -> None:
        self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        self.writer.close()


def open_logger(cfg: LoggerConfig, run_dir: Path, resume_step: int | None = None) -> RunLogger:
    """The logger ``cfg`` names, writing into ``run_dir``; ``resume_step``: the
    global step of the checkpoint a resumed run continues from."""
    if cfg.name == "csv":
        return CsvLogger(run_dir / SCALARS_CSV, resume_step)
    if cfg.name == "tensorboard":
        return TensorBoardLogger(run_dir / TENSORBOARD_DIR, resume_step)
    return RunLogger()


class StepLog:
    """The loop's hook: feeds a `RunLogger` the training loss every
    ``every_steps`` steps and each pass's history row."""

    def __init__(self, logger: RunLogger, every_steps: int):
        self.logger, self.every = logger, every_steps
        self.active = type(logger) is not RunLogger  # logger=none (or not rank 0): nothing to time
        self.window_loss, self.window_samples = 0.0, 0

    def start_pass(self) -> None:
        self.window_loss, self.window_samples = 0.0, 0

    def steps(self, before: int, after: int, loss_sum: float, samples: int, lr: float, epoch: int) -> None:
        """Steps ``before``..``after`` (global) trained with summed loss ``loss_sum`` over ``samples`` examples."""
        self.window_loss += loss_sum
        self.window_samples += samples
        if after // self.every > before // self.every and self.window_samples:
            self.logger.scalar("train/loss", self.window_loss / self.window_samples, after, epoch)
            self.logger.scalar("lr", lr, after, epoch)
            self.window_loss, self.window_samples = 0.0, 0

    def end_pass(self, row: Mapping[str, Any], step: int, epoch: int) -> None:
        for key, value in row.items():
            if key != "pass" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.logger.scalar(f"pass/{key}", value, step, epoch)

    def close(self) -> None:
        self.logger.close()

"""A run record: the files one run leaves in its output directory.

    config.yaml        the resolved config (written first)
    environment.json   code version, libraries, hardware (written first)
    history.csv        one row per pass, rewritten atomically after each pass
    checkpoint.pt      everything needed to continue (atomic)
    metrics.json       final metrics; written LAST, atomically, with
                       "status": "complete". A directory without it is an
                       unfinished run and every reader must treat it so.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_json_atomic, write_text_atomic

METRICS = "metrics.json"
HISTORY = "history.csv"
CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
ENVIRONMENT = "environment.json"
COMPLETE = "complete"


class RecordError(ValueError):
    """A run directory is unfinished or malformed."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def history(self) -> Path:
        return self.path / HISTORY

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def environment(self) -> Path:
        return self.path / ENVIRONMENT

    def is_complete(self) -> bool:
        try:
            return read_metrics(self.path).get("status") == COMPLETE
        except RecordError:
            return False


def history_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_history(run: RunDir, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(run.history, history_csv(rows))


def write_metrics(run: RunDir, metrics: dict[str, Any]) -> None:
    write_json_atomic(run.metrics, {**metrics, "status": COMPLETE})


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a finished run's metrics.json, or raise RecordError saying why not."""
    file = Path(path) / METRICS
    if not file.exists():
        raise RecordError(f"{path}: no {METRICS} (run unfinished or interrupted)")
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{file}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("status") != COMPLETE:
        raise RecordError(f"{file}: status is not {COMPLETE!r}")
    return data

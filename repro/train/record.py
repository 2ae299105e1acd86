"""A run record: the files one run leaves in its output directory.

    config.yaml        the resolved config (written first)
    environment.json   code version, libraries, hardware (written first)
    history.csv        one row per pass, rewritten atomically after each pass
    checkpoint.pt      everything needed to continue (atomic)
    metrics.json       final metrics; written LAST, atomically, with
                       "status": "complete". A directory without it is an
                       unfinished run and every reader must treat it so.
                       A run whose loss became non-finite ends with
                       "status": "diverged" and "diverged": {"pass", "step",
                       "global_step", "loss": null, "cause"}: finished (never
                       overwritten nor continued), but not a result to
                       average: `read_metrics` refuses it with the reason,
                       `read_record` reads it.

Every JSON file of a record is strict JSON: NaN and infinities become null.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic

METRICS = "metrics.json"
HISTORY = "history.csv"
CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
ENVIRONMENT = "environment.json"
COMPLETE = "complete"
DIVERGED = "diverged"
FINISHED = (COMPLETE, DIVERGED)


class RecordError(ValueError):
    """A run directory is unfinished or malformed."""


class DivergedRun(RecordError):
    """A finished run whose loss became non-finite: listed by reports, never averaged."""

    def __init__(self, path: Path, diverged: Any):
        self.path = Path(path)
        self.diverged = diverged if isinstance(diverged, dict) else {}
        super().__init__(divergence_reason(self.diverged))


def divergence_reason(diverged: dict[str, Any]) -> str:
    """'diverged at pass 2, step 17 (training loss is nan)' (or 'within steps 1–100') from a record's "diverged" entry."""
    cause = diverged.get("cause")
    # first_step: a fused chunk's loss is one sum, so where it cannot be told, the chunk's steps are given.
    steps = (f"within steps {diverged['first_step']}–{diverged.get('step', '?')}" if "first_step" in diverged
             else f"step {diverged.get('step', '?')}")
    where = f" at pass {diverged['pass']}, {steps}" if "pass" in diverged else ""
    return f"diverged{where}" + (f" ({cause})" if cause else "")


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

    def is_finished(self) -> bool:
        """Complete or diverged: a record that is never overwritten nor continued."""
        try:
            read_record(self.path)
            return True
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


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinity (at any depth) replaced by None."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral) and not math.isfinite(obj):
        return None
    return obj


def record_json(obj: Any) -> str:
    """Strict JSON (no NaN/Infinity tokens) for a record file."""
    return json.dumps(finite(obj), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n"


def write_record_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, record_json(obj))


def write_metrics(run: RunDir, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write a complete run's metrics.json; returns what was written."""
    record = finite({**metrics, "status": COMPLETE})
    write_record_json(run.metrics, record)
    return record


def diverged_record(metrics: dict[str, Any], diverged: dict[str, Any]) -> dict[str, Any]:
    """A diverged run's metrics.json content: "status": "diverged" and where it diverged."""
    return finite({**metrics, "status": DIVERGED, "diverged": diverged})


def write_diverged(run: RunDir, metrics: dict[str, Any], diverged: dict[str, Any]) -> dict[str, Any]:
    """Write a diverged run's metrics.json; returns what was written."""
    record = diverged_record(metrics, diverged)
    write_record_json(run.metrics, record)
    return record


def read_record(path: Path) -> dict[str, Any]:
    """Read a finished run's metrics.json, complete or diverged, or raise RecordError saying why not."""
    file = Path(path) / METRICS
    if not file.exists():
        raise RecordError(f"{path}: no {METRICS} (run unfinished or interrupted)")
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{file}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("status") not in FINISHED:
        raise RecordError(f"{file}: status is not {COMPLETE!r}")
    return data


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a complete run's metrics.json, or raise RecordError saying why not
    (DivergedRun, whose message is 'diverged at pass k, step s (...)', for a diverged run)."""
    data = read_record(path)
    if data["status"] == DIVERGED:
        raise DivergedRun(path, data.get("diverged"))
    # Records written before divergence was detected say "complete" with a NaN loss.
    bad = _first_non_finite(data.get("final"))
    if bad is not None:
        key, value = bad
        raise DivergedRun(path, {"cause": f"final {key} is {value}, in a record written as complete"})
    return data


def _first_non_finite(obj: Any, key: str = "") -> tuple[str, float] | None:
    """(the keys to it, space-separated; the value) of the first NaN or infinity in ``obj``, else None."""
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            found = _first_non_finite(obj[k], f"{key} {k}".strip())
            if found is not None:
                return found
    elif isinstance(obj, float) and not math.isfinite(obj):
        return key, obj
    return None

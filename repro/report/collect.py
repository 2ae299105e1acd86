"""Collect run records from directories into one pandas table.

Complete records become rows (with their flat config, see rows.py);
diverged, unfinished or malformed ones are listed as skipped with the reason
and never averaged in (a diverged one keeps its config, so a report can say
which row diverged).
"""

from __future__ import annotations

import math

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from repro.train.record import CONFIG, METRICS, DivergedRun, RecordError, read_metrics, read_record

from .rows import row_config


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str
    row: str = ""  # the row's label (rows.resolve), when known
    settings: tuple = field(default=(), compare=False, repr=False)  # its row's settings (rows.resolve)
    # A diverged record's flat config, name and seed (rows.py): it still tells rows apart.
    config: Mapping[str, str] | None = field(default=None, compare=False, repr=False)
    name: str = ""
    seed: int | None = None

    @property
    def diverged(self) -> bool:
        return self.reason.startswith("diverged")


def find_run_dirs(roots: Iterable[Path]) -> list[Path]:
    """Every directory below ``roots`` that holds a run (a config or metrics file)."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"no such run directory: {root}")
        if not root.is_dir():  # rglob would find nothing in it: an empty report, not the mistake it is
            raise FileNotFoundError(f"{root} is a file, not a folder of run records (give the folder that holds "
                                    "it: a run, a sweep or a folder of sweeps)")
        for marker in (CONFIG, METRICS):
            found.update(p.parent for p in root.rglob(marker) if ".hydra" not in p.parts)
    return sorted(found)


def record_era(path: Path) -> str | None:
    """The `era` a finished record names (diverged included), else None (unfinished, unreadable, none said)."""
    try:
        era = read_record(path).get("era")
    except RecordError:
        return None
    return era if isinstance(era, str) and era else None


def _row(path: Path, m: dict) -> dict:
    try:
        final = m["final"]
        env = m.get("environment", {})
        # Only a run that says it never evaluated the test digits may lack them (lecun1989's
        # data.evaluate_test=false: a validation search); anywhere else a missing split is a broken record.
        tested = ((m.get("config") or {}).get("data") or {}).get("evaluate_test", True) is not False
        if tested:
            final["test"]["error"]  # noqa: B018  (KeyError -> malformed, below)
        return {
            "run": str(path),
            "era": m["era"],
            "name": m["name"],
            # Records from before tables and tricks existed: no table, no tricks.
            "table": m.get("table") or "",
            "tricks": ", ".join(t["name"] for t in m.get("tricks") or []),
            "backend": m.get("backend") or ((m.get("config") or {}).get("trainer") or {}).get("backend", "eager"),
            "data": m["data"],
            "n_train": int(m.get("n_train") or 0),
            "seed": int(m["seed"]),
            "passes": int(m["passes"]),
            "train_error": float(final["train"]["error"]),
            # A validation run that never evaluated the test digits (lecun1989's data.evaluate_test=false): NaN.
            "test_error": float(final["test"]["error"]) if "test" in final else math.nan,
            "train_misses": int(final["train"]["misses"]),
            "test_misses": int(final["test"]["misses"]) if "test" in final else -1,
            "train_loss": float(final["train"]["loss"]),
            "test_loss": float(final["test"]["loss"]) if "test" in final else math.nan,
            "wall_time_s": float(m["wall_time_s"]),
            "train_time_s": float(m["train_time_s"]),
            "samples_per_s": float(m["samples_per_s"]),
            "hardware": env.get("hardware", "unknown"),
            "git_commit": (env.get("git") or {}).get("commit", "unknown"),
            "torch": env.get("torch", "unknown"),
            "finished_at": str(m.get("finished_at") or ""),
            "config": row_config(m, path),
            # Any other split (a validation split held out of the training data): its error, beside train and test.
            **{f"{split}_error": float(result["error"]) for split, result in sorted(final.items())
               if split not in ("train", "test") and isinstance(result, dict) and "error" in result},
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{path / METRICS}: malformed ({type(exc).__name__}: {exc})") from exc


def collect(roots: Iterable[Path], dirs: Iterable[Path] | None = None) -> tuple[pd.DataFrame, list[Skipped]]:
    """The records under ``roots`` (or exactly the run folders ``dirs``) as rows, and the skipped ones."""
    rows, skipped = [], []
    for path in find_run_dirs(roots) if dirs is None else sorted(dirs):
        try:
            rows.append(_row(path, read_metrics(path)))
        except DivergedRun as exc:
            skipped.append(_diverged(path, str(exc)))
        except RecordError as exc:
            skipped.append(Skipped(path, str(exc)))
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["era", "table", "data", "name", "seed", "run"], kind="stable").reset_index(drop=True)
    return frame, skipped


def _diverged(path: Path, reason: str) -> Skipped:
    m = read_record(path)
    try:
        seed = int(m.get("seed"))
    except (TypeError, ValueError):
        seed = None
    return Skipped(path, reason, config=row_config(m, path), name=str(m.get("name", "")), seed=seed)


def read_history(run: str | Path) -> pd.DataFrame:
    """A run's per-pass history.csv (empty frame when absent or unreadable)."""
    try:
        return pd.read_csv(Path(run) / "history.csv")
    except (OSError, ValueError):
        return pd.DataFrame()

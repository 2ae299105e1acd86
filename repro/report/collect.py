"""Collect run records from directories into one pandas table.

Complete records become rows (with their flat config, see rows.py);
diverged, unfinished or malformed ones are listed as skipped with the reason
and never averaged in (a diverged one keeps its config, so a report can say
which row diverged).
"""

from __future__ import annotations

import math

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from repro.train.record import CONFIG, METRICS, DivergedRun, RecordError, read_metrics, read_record

from .rows import record_facts, row_config


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

            "backend": m.get("backend") or ((m.get("config") or {}).get("trainer") or {}).get("backend", "eager"),
            **record_facts(m),  # data, passes, n_train, tricks: what rows.py keys a row by besides its config
            "seed": int(m["seed"]),
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
            skipped.append(diverged_skip(path, str(exc)))
        except RecordError as exc:
            skipped.append(Skipped(path, str(exc)))
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["era", "table", "data", "name", "seed", "run"], kind="stable").reset_index(drop=True)
    return frame, skipped


def diverged_skip(path: Path, reason: str) -> Skipped:
    """A diverged run as skipped, with the config, name and seed its row is told by."""
    m = read_record(path)
    try:
        seed = int(m.get("seed"))
    except (TypeError, ValueError):
        seed = None
    return Skipped(path, reason, config=row_config(m, path), name=str(m.get("name", "")), seed=seed)


HISTORY = "history.csv"
CURVES_LEFT_OUT = "left out of the learning curves (its final numbers are counted)"


def history(run: str | Path) -> tuple[pd.DataFrame, str | None]:
    """A run's per-pass history.csv, or an empty frame and why it cannot be drawn (absent, empty,
    unreadable, or not a history: no numeric `pass` column, or an error column that is not numbers)."""
    file = Path(run) / HISTORY
    if not file.is_file():
        return pd.DataFrame(), f"no {HISTORY}"
    try:
        frame = pd.read_csv(file)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(), f"{HISTORY} is empty"
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return pd.DataFrame(), f"{HISTORY} unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"
    if frame.empty:
        return pd.DataFrame(), f"{HISTORY} has no passes"
    errors = [c for c in frame.columns if str(c).endswith("_error")]
    bad = [c for c in ["pass", *errors] if c not in frame or not pd.api.types.is_numeric_dtype(frame[c])]
    if bad or not errors:
        what = f"column {bad[0]!r} missing or not numbers" if bad else "no error columns"
        return pd.DataFrame(), f"{HISTORY} is not a history ({what})"
    return frame, None


def read_history(run: str | Path) -> pd.DataFrame:
    """A run's per-pass history.csv (empty frame when absent or unusable: `history` says why)."""
    return history(run)[0]


def row_curves(runs_by_row: Mapping[str, Iterable[str | Path]]) -> tuple[dict[str, pd.DataFrame], list[Skipped]]:
    """Each row's runs' histories, concatenated (the learning curves' input), and the runs left out of
    them with the reason: a report says what its curves lack, never draws fewer seeds silently."""
    curves, left_out = {}, []
    for row, runs in runs_by_row.items():
        frames = []
        for run in runs:
            frame, why = history(run)
            if why is None:
                frames.append(frame)
            else:
                left_out.append(Skipped(Path(run), f"{CURVES_LEFT_OUT}: {why}", row=row))
        curves[row] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return curves, left_out

"""The summary a multirun prints when its last job is done.

`SweepSummary` is a Hydra callback (wired in the apps' configs as
`hydra.callbacks.sweep_summary._target_: repro.report.sweep_end.SweepSummary`):
on_multirun_end reads the finished sweep folder (hydra.sweep.dir) and prints one
line per row (the settings that tell the rows apart, as rows.py decides, the
seeds, mean ± sd of every split's error, the diverged and duplicate runs) and
the `repro report` command that writes the sweep's tables and plots. The runs
are finished and recorded by then, so a summary that fails only logs a warning:
it never fails the sweep.
"""

from __future__ import annotations

import logging
import math
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback

from repro.sweep_claim import removed_for_refusals
from repro.train.record import DivergedRun, RecordError, read_metrics, read_record

from .collect import Skipped, find_run_dirs
from .markdown import fmt
from .rows import resolve, row_config, settings_order

log = logging.getLogger(__name__)
SPLITS = ("train", "holdout", "val", "val10", "test")  # the order error columns are shown in; any other split after these


def sweep_runs(sweep: Path) -> tuple[pd.DataFrame, list[Skipped]]:
    """Every finished run of ``sweep`` with its rows (rows.resolve) and each split's final
    error; diverged, duplicate, unfinished and malformed runs as skipped records."""
    rows, skipped = [], []
    for path in find_run_dirs([sweep]):
        try:
            record = read_record(path)
            read_metrics(path)
            rows.append({"run": str(path), "name": str(record.get("name", "")), "seed": int(record["seed"]),
                         "finished_at": str(record.get("finished_at") or ""), "config": row_config(record, path),
                         **{f"{split}_error": float(result["error"])
                            for split, result in sorted((record.get("final") or {}).items())
                            if isinstance(result, dict) and "error" in result}})
        except DivergedRun as exc:
            seed = record.get("seed")
            skipped.append(Skipped(path, str(exc), config=row_config(record, path), name=str(record.get("name", "")),
                                   seed=seed if isinstance(seed, int) else None))
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            skipped.append(Skipped(path, str(exc)))
    return resolve(pd.DataFrame(rows), skipped)


def _error_columns(runs: pd.DataFrame) -> list[str]:
    found = [c for c in runs.columns if c.endswith("_error")]
    known = [f"{s}_error" for s in SPLITS if f"{s}_error" in found]
    return known + sorted(set(found) - set(known))


def _mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return fmt(float(values.iloc[0]))
    sd = float(values.std(ddof=1))
    return f"{float(values.mean()):.2f} ± {sd:.2f}" if not math.isnan(sd) else fmt(float(values.mean()))


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [headers, *rows]]


def summary_lines(sweep: Path) -> list[str]:
    """The sweep-end summary of ``sweep``: a line per row, then the report command."""
    sweep = Path(sweep)
    runs, skipped = sweep_runs(sweep)
    errors = _error_columns(runs) if len(runs) else []
    # Rows: those with finished runs, and those whose every run diverged.
    order: dict[str, tuple] = {}
    for _, r in runs.iterrows():
        order[r["row"]] = (r["name"], settings_order(r["settings"]))
    for s in skipped:
        if s.diverged and s.row and s.row not in order:
            order[s.row] = (s.name, settings_order(s.settings))
    lines = [f"sweep {sweep}: {len(runs)} finished run(s) in {len(order)} row(s)"]
    table = []
    for row in sorted(order, key=lambda r: (order[r], r)):
        mine = runs[runs["row"] == row] if len(runs) else runs
        diverged = sum(1 for s in skipped if s.diverged and s.row == row)
        duplicates = sum(1 for s in skipped if s.reason.startswith("duplicate") and s.row == row)
        table.append([row, str(mine["seed"].nunique() if len(mine) else 0),
                      *(_mean_sd(mine[c]) if c in mine else "—" for c in errors), str(diverged), str(duplicates)])
    headers = ["row", "seeds", *(f"{c[:-len('_error')]} error %" for c in errors), "diverged", "duplicates"]
    lines += ["  " + line for line in _aligned(headers, table)]
    other = [s for s in skipped if not s.diverged and not s.reason.startswith("duplicate")]
    if other:
        lines.append(f"  not finished or unreadable (not in any row): {', '.join(s.path.name for s in other)}")
    lines.append(f"tables and plots: repro report {shlex.quote(str(sweep))}")
    return lines


class SweepSummary(Callback):
    """Prints the sweep's summary at the end of a multirun; never raises."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep = None
        try:
            sweep = Path(str(config.hydra.sweep.dir))
            if removed_for_refusals(sweep):
                return  # every job was refused, and the folder made for them removed (repro/sweep_claim.py)
            print("\n".join(summary_lines(sweep)), flush=True)
        except Exception as exc:  # noqa: BLE001 - the runs are done and recorded: a summary must not fail them
            log.warning("no sweep summary (%s: %s); the run records are in %s, `repro report %s` tabulates them",
                        type(exc).__name__, exc, sweep or "the sweep folder", sweep or "<sweep folder>")




"""The report plug-in interface: what an era's reporter provides, and how
`repro report` finds it.

Each era registers one `Reporter` under the entry-point group
``repro.reporters`` (pyproject.toml: ``lecun1989 = "lecun1989.report:REPORTER"``).
The generic report picks the reporter by the ``era`` field of the run records
(metrics.json); repro/ itself never imports an era.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

import pandas as pd

from .collect import Skipped
from .headline import HeadlineFn

GROUP = "repro.reporters"


class ExperimentWriter(Protocol):
    def __call__(self, table_name: str, runs: pd.DataFrame, skipped: Sequence[Skipped], out_dir: Path) -> list[Path]:
        ...


class PlainWriter(Protocol):
    def __call__(self, runs: pd.DataFrame, skipped: Sequence[Skipped], out_dir: Path, name: str,
                 stem: str) -> list[Path]:
        ...


class SweepWriter(Protocol):
    def __call__(self, sweep: Path, stem: Path) -> list[Path] | None:
        ...


def _no_tricks() -> Sequence[tuple[str, str, str]]:
    return ()


@dataclass(frozen=True)
class Reporter:
    """What one era contributes to `repro report`. Paths are relative to the
    directory `repro report` runs in (the repository root)."""

    era: str  # the `era` field of the run records it reports
    runs: Sequence[str] = ()  # its committed records, read by `repro report` without positional folders
    run_tables: Sequence[str] = ()  # its committed sweep folders, one row per run (`--run-tables` default)
    experiment: ExperimentWriter | None = None  # records with a `table`: that experiment's table and plots
    plain: PlainWriter | None = None  # records without a `table` (plain runs): the era's baseline table
    sweep_table: SweepWriter | None = None  # a run-table sweep: the era's own table for it, or None for the per-run one
    tricks: Callable[[], Sequence[tuple[str, str, str]]] = _no_tricks  # (name, summary, origin) for REPORT.md
    headline: HeadlineFn | None = None  # its published numbers beside ours, for REPORT.md's headline (headline.py)


class ReporterError(LookupError):
    """A reporter that cannot be found or loaded; the message is one line."""


@lru_cache(maxsize=1)
def reporters() -> Mapping[str, Reporter]:
    """era -> reporter, from the installed ``repro.reporters`` entry points (sorted by era)."""
    found: dict[str, Reporter] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            reporter = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in: say which, in one line
            raise ReporterError(f"reporter {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from exc
        if not isinstance(reporter, Reporter) or reporter.era != ep.name:
            raise ReporterError(f"entry point {ep.name!r} ({ep.value}) is not a Reporter for era {ep.name!r}")
        found[ep.name] = reporter
    return found


def reporter_for(era: str, where: object = None) -> Reporter:
    """The reporter of ``era``, or ReporterError naming the installed ones."""
    known = reporters()
    if era not in known:
        at = f" (run records under {where})" if where is not None else ""
        raise ReporterError(f"no reporter for era {era!r}{at}; installed: {', '.join(known) or 'none'} "
                            f"(entry-point group {GROUP!r})")
    return known[era]

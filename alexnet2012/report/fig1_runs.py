"""Figure 1's run records, read once and grouped by configuration, for its page and its rate search.

A Figure 1 record is one training-error curve (history.csv's train_error, measured on a fixed subset
of training images after every pass) of one net (ReLU or tanh) at one rate multiplier (optim.lr). Runs
are grouped as repro/report/rows.py groups every table: the same resolved config but the seed is one
row; a second run of one row with the same seed is a duplicate, listed and never counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from repro.report.collect import find_run_dirs, read_history, record_era
from repro.report.rows import RECIPE, group_records, row_config
from repro.train.record import DivergedRun, RecordError, read_metrics, read_record

TARGET = 25.0  # % training error: the figure's horizontal line


def epochs_to(curve: pd.Series, target: float = TARGET) -> int | None:
    """The first pass (1-based) whose training error is at or below ``target``."""
    hits = curve.index[curve.to_numpy() <= target]
    return int(hits[0]) if len(hits) else None


def net_of(name: str) -> str:
    """'relu' or 'tanh' from a run name (fig1-relu, fig1-tanh), else the name itself."""
    return "relu" if "relu" in name else "tanh" if "tanh" in name else name


@dataclass(frozen=True)
class Fig1Run:
    path: Path
    name: str  # fig1-relu / fig1-tanh
    seed: int
    lr: float  # optim.lr: the multiplier of every layer's cuda-convnet rate
    cap: int  # trainer.epochs: the most passes the run could take
    passes: int  # what ran (the cap, or where it reached the target)
    curve: pd.Series  # train_error by pass
    config: dict  # row_config: what identifies its row
    metrics: dict
    diverged: str = ""  # why the run has no result (a non-finite loss), else ""
    row: str = ""  # its row's key as repro.report.rows groups it (set by read_fig1_runs)

    @property
    def net(self) -> str:
        return net_of(self.name)

    @property
    def epochs_to_target(self) -> int | None:
        return None if self.diverged else epochs_to(self.curve)

    @property
    def final_train_error(self) -> float | None:
        return float(self.curve.iloc[-1]) if len(self.curve) and not self.diverged else None

    @property
    def row_key(self) -> str:
        return self.row or json.dumps(self.config, sort_keys=True)

    @property
    def search_key(self) -> str:
        """Its row's config without the rate: the runs of one rate search share it."""
        return json.dumps({k: v for k, v in self.config.items() if not _is_rate(k)}, sort_keys=True)

    @property
    def pair_key(self) -> str:
        """Its config without what tells the two nets apart (net, name, rate): a ReLU row and a tanh row
        that share it are the figure's two curves under one protocol."""
        return json.dumps({k: v for k, v in self.config.items()
                           if not (_is_rate(k) or _bare(k) == "name" or _bare(k).startswith("model."))},
                          sort_keys=True)


def _bare(key: str) -> str:
    return key[len(RECIPE):] if key.startswith(RECIPE) else key


def _is_rate(key: str) -> bool:
    return _bare(key) == "optim.lr"


@dataclass(frozen=True)
class Fig1Records:
    runs: list[Fig1Run]  # finished (diverged included), duplicates left out
    skipped: list[str]  # "folder: why" for every record found but not used


def read_fig1_runs(sweeps: list[Path], table: str, untabled: bool = False) -> Fig1Records:
    """Every finished `table` record under ``sweeps`` with its curve (``untabled``: records that name no
    table too, as older code wrote them); what was not used, and why."""
    runs: list[Fig1Run] = []
    skipped: list[str] = []
    for path in find_run_dirs(sweeps):
        if record_era(path) not in ("alexnet2012", None):
            continue  # another era's run in the same folder: its own era's table has it
        try:
            m = read_record(path)
        except RecordError as exc:
            skipped.append(f"{path.name}: {exc}")
            continue
        if m.get("table") != table and not (untabled and not m.get("table")):
            continue
        diverged = ""
        try:
            read_metrics(path)
        except DivergedRun as exc:
            diverged = str(exc)
        history = read_history(path)
        if "train_error" not in history or "pass" not in history:
            if not diverged:
                skipped.append(f"{path.name}: history.csv has no training-error curve (missing, empty or corrupt)")
                continue
            history = pd.DataFrame({"pass": [], "train_error": []})
        # A resumed run's history may repeat the passes it redid: the last line of each pass is what ran.
        curve = history.drop_duplicates("pass", keep="last").set_index("pass")["train_error"].astype(float)
        cfg = m.get("config") or {}
        runs.append(Fig1Run(
            path=path, name=str(m.get("name", "")), seed=int(m.get("seed") or 0),
            lr=float((cfg.get("optim") or {}).get("lr", 1.0)), cap=int((cfg.get("trainer") or {}).get("epochs", 0)),
            passes=int(m.get("passes") or len(curve)), curve=curve, config=row_config(m, path), metrics=m,
            diverged=diverged))
    # Rows exactly as every table groups them (repro.report.rows.group_records): a duplicate (same config
    # and seed) is listed, never counted; a diverged run keeps its place in the page's diverged list.
    rows, not_counted = group_records((r.path, r.metrics) for r in runs if not r.diverged)
    row_of = {path: row.key for row in rows for path in row.runs}
    duplicates = {s.path: s.reason for s in not_counted if s.reason.startswith("duplicate of ")}
    skipped += [f"{path.name}: {reason}" for path, reason in duplicates.items()]
    kept = [replace(r, row=row_of.get(r.path, "")) for r in runs if r.path not in duplicates]
    return Fig1Records(sorted(kept, key=lambda r: (r.net, r.lr, r.cap, r.seed, str(r.path))), skipped)

"""Mean and spread over seeds, one row per configuration (rows.py says which runs are one)."""

from __future__ import annotations

import pandas as pd

from . import rows

# One line per row (rows.py; a row's label is unique within its table). Its passes: the most any of its
# runs took (a row that stops at a target error, trainer.stop_split, takes different passes per seed).
GROUP = ["era", "table", "data", "name", "row"]
METRICS = ["train_error", "test_error", "train_misses", "test_misses", "train_loss", "test_loss",
           "wall_time_s", "samples_per_s"]


def other_splits(runs: pd.DataFrame) -> list[str]:
    """`<split>_error` columns of splits besides train and test (a validation split), when any run has one."""
    return sorted(c for c in runs.columns if c.endswith("_error") and c not in METRICS and runs[c].notna().any())


def split_names(summary: pd.DataFrame) -> list[str]:
    """The other splits (besides train and test) a summary or a frame of runs has errors for."""
    present = [c for c in summary.columns if summary[c].notna().any()]
    names = [c[: -len("_error_mean")] for c in present if c.endswith("_error_mean")]
    names += [c[: -len("_error")] for c in present if c.endswith("_error")]
    return sorted(set(names) - {"train", "test"})


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (and era, table, data, passes): n seeds, and mean/sd
    (sample sd, ddof=1; NaN for a single seed) of every metric.

    ``runs`` as rows.resolve leaves them (one run per config and seed); a frame
    without rows is resolved here, its duplicates dropped, so a copied run folder
    is never a second seed."""
    if runs.empty:
        return pd.DataFrame()
    if "row" not in runs:
        runs, _ = rows.resolve(runs)
    if "test_misses" in runs:  # collect's -1: a validation run never read the test digits, no count to average
        runs = runs.assign(test_misses=runs["test_misses"].where(runs["test_misses"] >= 0))
    grouped = runs.groupby(GROUP, sort=True)
    out = grouped.agg(seeds=("seed", "nunique"), runs=("seed", "size"),
                      hardware=("hardware", lambda s: "; ".join(sorted(set(s)))),
                      backend=("backend", lambda s: "; ".join(sorted(set(s)))),
                      tricks=("tricks", lambda s: "; ".join(sorted(set(s)))),
                      n_train=("n_train", "max"), settings=("settings", "first"), passes=("passes", "max"))
    for metric in METRICS + other_splits(runs):
        out[f"{metric}_mean"] = grouped[metric].mean()
        out[f"{metric}_sd"] = grouped[metric].std(ddof=1)
    return out.reset_index()

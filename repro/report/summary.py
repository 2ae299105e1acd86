"""Mean and spread over seeds, one row per configuration."""

from __future__ import annotations

import pandas as pd

GROUP = ["era", "table", "data", "name", "passes"]
METRICS = ["train_error", "test_error", "train_misses", "test_misses", "train_loss", "test_loss",
           "wall_time_s", "samples_per_s"]


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (era, table, data, name, passes): n seeds, and mean/sd (sample sd,
    ddof=1; NaN for a single seed) of every metric."""
    if runs.empty:
        return pd.DataFrame()
    grouped = runs.groupby(GROUP, sort=True)
    out = grouped.agg(seeds=("seed", "nunique"), runs=("seed", "size"),
                      hardware=("hardware", lambda s: "; ".join(sorted(set(s)))),
                      backend=("backend", lambda s: "; ".join(sorted(set(s)))),
                      tricks=("tricks", lambda s: "; ".join(sorted(set(s)))),
                      n_train=("n_train", "max"))
    for metric in METRICS:
        out[f"{metric}_mean"] = grouped[metric].mean()
        out[f"{metric}_sd"] = grouped[metric].std(ddof=1)
    return out.reset_index()

"""results/lecun1989/baseline.{md,csv}: our runs beside the published ones.

A folder of plain runs (no experiment) is one such table: one line per
configuration (runs of one name that differ in a setting, e.g. an lr sweep, are
lines of their own with that setting as a column; repro.report.rows), and with
more than one line the test-error plot and the learning curves beside it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from repro.report import plots, rows
from repro.report.collect import Skipped, row_curves
from repro.report.experiment_table import skipped_section
from repro.report.markdown import fmt, mean_sd, table
from repro.report.rows import settings_order
from repro.report.summary import split_names, summarise
from repro.train.atomic import write_text_atomic

from .published import LECUN1989_REFERENCES
from .rejection import write_rejection

DATA_LABEL = {"usps": "USPS", "mnist16": "MNIST 16x16"}  # how tables name the record's `data`
# Plain runs of other names that are lines of a table: the paper's own optimizer beside the SGD
# baseline (experiment=sdlm writes plain runs named `sdlm` into runs/baseline/sdlm/; issue 31).
ALSO = {"baseline": ("sdlm",)}


def baseline_frames(runs: pd.DataFrame, name: str = "baseline") -> tuple[pd.DataFrame, pd.DataFrame]:
    names = (name, *ALSO.get(name, ()))
    ours = runs[(runs["era"] == "lecun1989") & runs["name"].isin(names)] if not runs.empty else runs
    if not ours.empty and "row" not in ours:
        ours, _ = rows.resolve(ours)
    summary = summarise(ours)
    if not summary.empty:  # lines by data set, then their settings (numbers by value)
        summary = summary.assign(_s=[settings_order(s) for s in summary["settings"]])
        summary = summary.sort_values(["data", "_s", "row"], kind="stable").drop(columns="_s").reset_index(drop=True)
    return ours, summary


def _keys(summary: pd.DataFrame) -> list[str]:
    return [k for k, _ in summary["settings"].iloc[0]] if len(summary) else []


def _source(r: pd.Series, name: str) -> str:
    """A line's source cell: ours, and its name where it is not the table's (`sdlm`: the paper's optimizer)."""
    return "**ours**" if r["name"] == name else f"**ours: `{r['name']}`**"


def _csv(summary: pd.DataFrame) -> str:
    rows = []
    for _, r in summary.iterrows():
        rows.append({"source": f"ours: {r['name']}" if r["name"] in ALSO["baseline"] else "ours",
                     **dict(r["settings"]), "data": r["data"], "passes": r["passes"], "seeds": r["seeds"],
                     "train_error_mean": r["train_error_mean"], "train_error_sd": r["train_error_sd"],
                     **{f"{s}_error_{m}": r[f"{s}_error_{m}"] for s in split_names(summary) for m in ("mean", "sd")},
                     "test_error_mean": r["test_error_mean"], "test_error_sd": r["test_error_sd"],
                     "test_misses_mean": r["test_misses_mean"], "test_loss_mean": r["test_loss_mean"],
                     "wall_time_s_mean": r["wall_time_s_mean"], "samples_per_s_mean": r["samples_per_s_mean"],
                     "hardware": r["hardware"]})
    for ref in LECUN1989_REFERENCES:
        rows.append({"source": ref["source"], "data": ref["data"], "passes": 23,
                     "train_error_mean": ref["train_error"], "test_error_mean": ref["test_error"],
                     "test_misses_mean": ref.get("test_misses"), "test_loss_mean": ref.get("test_mse")})
    return pd.DataFrame(rows).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def _markdown(ours: pd.DataFrame, summary: pd.DataFrame, skipped: Sequence[Skipped], name: str,
              figures: Sequence[tuple[str, Path]] = (), rejection: Path | None = None) -> str:
    keys = _keys(summary)
    splits = split_names(summary)  # a validation split, beside train and test
    headers = ["source", *keys, "data", "passes", "seeds", "train error %", *(f"{s} error %" for s in splits),
               "test error %", "test misses",
               "train MSE", "test MSE", "wall time (s)", "train samples/s"]
    rows = []
    for _, r in summary.iterrows():
        rows.append([_source(r, name), *(v for _, v in r["settings"]), DATA_LABEL.get(r["data"], r["data"]), r["passes"], r["seeds"],
                     mean_sd(r["train_error_mean"], r["train_error_sd"]),
                     *(mean_sd(r[f"{s}_error_mean"], r[f"{s}_error_sd"]) for s in splits),
                     mean_sd(r["test_error_mean"], r["test_error_sd"]),
                     mean_sd(r["test_misses_mean"], r["test_misses_sd"], 1),
                     mean_sd(r["train_loss_mean"], r["train_loss_sd"], 4),
                     mean_sd(r["test_loss_mean"], r["test_loss_sd"], 4),
                     fmt(r["wall_time_s_mean"], 0), fmt(r["samples_per_s_mean"], 0)])
    for ref in LECUN1989_REFERENCES:
        rows.append([ref["source"], *("—" for _ in keys), DATA_LABEL[ref["data"]], 23, "—", fmt(ref["train_error"]),
                     *("—" for _ in splits), fmt(ref["test_error"]), fmt(ref.get("test_misses"), 0), fmt(ref.get("train_mse"), 4),
                     fmt(ref.get("test_mse"), 4), "—", "—"])
    text = [f"# LeCun et al. 1989 reproduced: `{name}`\n",
            "Generated by `repro report` from run records; do not edit by hand. "
            "Mean ± sample standard deviation over seeds. Error rates are misses / digits, "
            "misses counted as integers. MSE is the mean over the 10 outputs of (output − target)², targets ±1. "
            "Published rows: the misses and MSE their sources state (the paper's MSE normalisation is not stated).\n",
            table(headers, rows)]
    if rejection is not None:
        text.append(f"\nThe paper's rejection figure (error against rejection, the rejection for 1% test error): "
                    f"[{rejection.name}]({rejection.name}).\n")
    if figures:
        text.append("\n## Figures\n\n")
        for caption, path in figures:
            text.append(f"**{caption}**\n\n![{caption}]({path.name})\n\n")
    if not ours.empty:
        text.append("\n## Runs\n")
        ordered = ours.assign(_s=[settings_order(s) for s in ours["settings"]]).sort_values(
            ["data", "_s", "seed", "run"], kind="stable")
        named = ours["name"].nunique() > 1  # lines of other names (ALSO): each run says which
        per_run = [[*([r["name"]] if named else []), *(v for _, v in r["settings"]), r["data"], r["seed"], fmt(r["train_error"]),
                    *(fmt(r[f"{s}_error"]) for s in splits), fmt(r["test_error"]), r["train_misses"],
                    r["test_misses"], fmt(r["wall_time_s"], 0), fmt(r["samples_per_s"], 0), r["hardware"],
                    str(r["git_commit"])[:10]] for _, r in ordered.iterrows()]
        text.append(table([*(["run"] if named else []), *keys, "data", "seed", "train error %", *(f"{s} error %" for s in splits), "test error %",
                           "train misses", "test misses",
                           "wall time (s)", "samples/s", "hardware", "commit"], per_run))
    text.append(skipped_section(skipped))
    return "".join(text)


def _figures(ours: pd.DataFrame, summary: pd.DataFrame, out_dir: Path,
             stem: str) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """With more than one line: test error per line (dots: seeds) and the learning curves; and the runs
    left out of the curves (collect.row_curves)."""
    if len(summary) < 2:
        return [], []
    order = list(summary["row"])
    path = plots.error_by_row(order, ours.assign(name=ours["row"]), {}, f"{stem}: test error per configuration",
                              out_dir / f"{stem}_error.png")
    figures = [("Test error per configuration (dots: seeds; bars: mean ± sd)", path)]
    curves, left_out = row_curves({row: ours.loc[ours["row"] == row, "run"] for row in order})
    path = plots.learning_curves(curves, f"{stem}: learning curves", out_dir / f"{stem}_curves.png")
    figures.append(("Learning curves (mean over seeds)", path))
    return figures, left_out


def write_baseline(
    runs: pd.DataFrame, skipped: Sequence[Skipped], out_dir: Path, name: str = "baseline", stem: str | None = None
) -> list[Path]:
    if not runs.empty and "row" not in runs:  # not through `repro report`: tell rows and duplicates apart here
        runs, skipped = rows.resolve(runs, skipped)
    ours, summary = baseline_frames(runs, name)
    stem = stem or name
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv = out_dir / f"{stem}.md", out_dir / f"{stem}.csv"
    figures, left_out = _figures(ours, summary, out_dir, stem)
    skipped = [*skipped, *left_out]
    rejection = write_rejection(ours, list(summary["row"]) if len(summary) else [], out_dir, stem,
                                f"LeCun et al. 1989 reproduced: `{name}`", DATA_LABEL)
    write_text_atomic(md, _markdown(ours, summary, skipped, name, figures, rejection[0] if rejection else None))
    write_text_atomic(csv, _csv(summary))
    return [md, csv, *(p for _, p in figures), *rejection]

"""results/<era>/<table>.{md,csv} and its plots: one named experiment (a
Hydra sweep over rows and seeds), our numbers beside the published ones.

Rows appear in the order of the experiment's sweep (conf/experiment/<table>.yaml);
a row's "Δ test" compares its mean test error with the reference row of the
same data set (the first row without tricks on that data).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from repro.train.atomic import write_text_atomic

from . import plots
from .collect import Skipped, read_history
from .markdown import fmt, mean_sd, table
from .published import KARPATHY_2022_ROWS, KARPATHY_2022_SOURCE, LECUN_1989
from .summary import summarise

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
DATA_LABEL = {"usps": "USPS", "mnist16": "MNIST 16x16"}
# Per era: the state-dict key of the first layer's kernels, and the data set
# the era's paper used (the misclassified grid shows that test set).
ERA = {"lecun1989": {"first_layer": "h1_w", "home_data": "usps"}}
PUBLISHED = {"karpathy_table": KARPATHY_2022_ROWS}


def row_order(table_name: str, names: Sequence[str]) -> list[str]:
    """Rows in the order of the experiment's sweep, then any others by name."""
    listed: list[str] = []
    path = CONF_DIR / "experiment" / f"{table_name}.yaml"
    if path.exists():
        params = ((yaml.safe_load(path.read_text()) or {}).get("hydra") or {}).get("sweeper", {}).get("params", {})
        for value in params.values():
            listed += [v.strip() for v in str(value).split(",")]
    present = set(names)
    return [n for n in listed if n in present] + sorted(present - set(listed))


def row_description(table_name: str, row: str) -> str:
    """The one-line comment under a row file's package line (what the row is)."""
    path = CONF_DIR / "row" / table_name / f"{row}.yaml"
    if not path.exists():
        return ""
    comments = [line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")]
    return next((c for c in comments if not c.startswith("@package")), "")


def _references(summary: pd.DataFrame, order: list[str]) -> dict[str, tuple[str, float]]:
    """data set -> (name, mean test error) of its reference row."""
    refs: dict[str, tuple[str, float]] = {}
    for name in order:
        r = summary[summary["name"] == name].iloc[0]
        if r["tricks"] == "" and r["data"] not in refs:
            refs[r["data"]] = (name, r["test_error_mean"])
    return refs


def _change(r: pd.Series, refs: dict[str, tuple[str, float]]) -> float | None:
    ref = refs.get(r["data"])
    return None if ref is None or ref[0] == r["name"] else _delta(r["test_error_mean"], ref[1])


def _delta(value: float, ref: float | None) -> float | None:
    if ref is None or not ref or value is None or np.isnan(value):
        return None
    return 100.0 * (value - ref) / ref


def _pct(delta: float | None) -> str:
    return "—" if delta is None else f"{delta:+.0f}%"


def _published_delta(pub: dict, name: str) -> float | None:
    row = pub.get(name)
    ref = next((v for k, v in pub.items() if k.endswith("baseline") and v["data"] == (row or {}).get("data")), None)
    if row is None or ref is None or row is ref or name.endswith("baseline"):
        return None
    return _delta(row["test_error"], ref["test_error"])


def tables(runs: pd.DataFrame, table_name: str) -> tuple[pd.DataFrame, list[str]]:
    summary = summarise(runs)
    order = row_order(table_name, list(summary["name"]))
    summary = summary.set_index("name").loc[order].reset_index()
    return summary, order


def _csv(summary: pd.DataFrame, order: list[str], pub: dict) -> str:
    refs = _references(summary, order)
    rows = []
    for _, r in summary.iterrows():
        p = pub.get(r["name"], {})
        rows.append({
            "row": r["name"], "tricks": r["tricks"], "data": r["data"], "n_train": r["n_train"], "passes": r["passes"],
            "seeds": r["seeds"], "train_error_mean": r["train_error_mean"], "train_error_sd": r["train_error_sd"],
            "test_error_mean": r["test_error_mean"], "test_error_sd": r["test_error_sd"],
            "test_misses_mean": r["test_misses_mean"], "test_misses_sd": r["test_misses_sd"],
            "test_error_change_pct": _change(r, refs),
            "wall_time_s_mean": r["wall_time_s_mean"], "backend": r["backend"], "hardware": r["hardware"],
            "karpathy_train_error": p.get("train_error"), "karpathy_test_error": p.get("test_error"),
            "karpathy_test_misses": p.get("test_misses"), "karpathy_passes": p.get("passes"),
            "karpathy_test_error_change_pct": _published_delta(pub, r["name"]),
        })
    return pd.DataFrame(rows).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def _markdown(table_name: str, runs: pd.DataFrame, summary: pd.DataFrame, order: list[str], skipped: Sequence[Skipped],
              pub: dict, figures: Sequence[tuple[str, Path]]) -> str:
    refs = _references(summary, order)
    headers = ["row", "tricks (applied in this order)", "data (train digits)", "passes", "seeds", "train error %",
               "test error %", "test misses", "Δ test", "Karpathy train %", "Karpathy test %", "Karpathy misses",
               "Karpathy Δ test", "paper train / test %", "wall time (s)", "backend"]
    body = []
    for _, r in summary.iterrows():
        p = pub.get(r["name"], {})
        paper = (f"{LECUN_1989['train_error']:.2f} / {LECUN_1989['test_error']:.2f}"
                 if r["data"] == LECUN_1989["data"] and r["tricks"] == "" and r["passes"] == 23 else "—")
        body.append([
            f"`{r['name']}`", r["tricks"] or "— (the 1989 recipe)", f"{DATA_LABEL.get(r['data'], r['data'])} ({r['n_train']:,})",
            r["passes"], r["seeds"], mean_sd(r["train_error_mean"], r["train_error_sd"]),
            mean_sd(r["test_error_mean"], r["test_error_sd"]), mean_sd(r["test_misses_mean"], r["test_misses_sd"], 1),
            "reference" if refs.get(r["data"], ("",))[0] == r["name"] else _pct(_change(r, refs)),
            fmt(p.get("train_error")), fmt(p.get("test_error")), fmt(p.get("test_misses")),
            _pct(_published_delta(pub, r["name"])), paper, fmt(r["wall_time_s_mean"], 0), r["backend"],
        ])
    text = [
        f"# `{table_name}`: LeCun et al. 1989 with modern tricks\n\n",
        "Generated by `repro report` from run records; do not edit by hand. Mean ± sample standard deviation "
        "over seeds; error rates are integer misses / digits. *Δ test*: change of the mean test error against "
        "the row without tricks on the same test set (`baseline` for USPS, `mnist_baseline` for MNIST). "
        f"Karpathy's columns: one run each, on MNIST 16x16 ({KARPATHY_2022_SOURCE}); his Δ is against his "
        "baseline (4.09%). Paper: LeCun et al. 1989, section 5.3.\n\n",
        table(headers, body),
    ]
    described = [[f"`{name}`", row_description(table_name, name)] for name in order]
    if any(d for _, d in described):
        text.append("\n## Rows\n\n(From the row configs, `conf/row/" + table_name + "/`.)\n\n")
        text.append(table(["row", "what it is"], described))
    if figures:
        text.append("\n## Figures\n\n")
        for caption, path in figures:
            text.append(f"**{caption}**\n\n![{caption}]({path.name})\n\n")
    text.append("## Runs\n\n")
    per_run = [[f"`{r['name']}`", r["seed"], fmt(r["train_error"]), fmt(r["test_error"]), r["train_misses"],
                r["test_misses"], fmt(r["wall_time_s"], 0), fmt(r["samples_per_s"], 0), r["backend"], r["hardware"],
                str(r["git_commit"])[:10]]
               for name in order for _, r in runs[runs["name"] == name].iterrows()]
    text.append(table(["row", "seed", "train error %", "test error %", "train misses", "test misses", "wall time (s)",
                       "samples/s", "backend", "hardware", "commit"], per_run))
    if skipped:
        text.append("\n## Skipped records\n\n")
        text.append(table(["run", "reason"], [[s.path.name, s.reason] for s in skipped]))
    return "".join(text)


def _first_run(runs: pd.DataFrame, name: str) -> pd.Series:
    return runs[runs["name"] == name].sort_values(["seed", "run"]).iloc[0]


def _figures(table_name: str, era: str, runs: pd.DataFrame, summary: pd.DataFrame, order: list[str], pub: dict,
             out_dir: Path) -> list[tuple[str, Path]]:
    spec = ERA.get(era, {})
    figures = []
    home_data = spec.get("home_data")
    away = [n for n in order if home_data and summary.loc[summary["name"] == n, "data"].iloc[0] != home_data]
    away_data = sorted({DATA_LABEL.get(d, d) for d in summary.loc[summary["name"].isin(away), "data"]})
    path = plots.error_by_row(order, runs, {k: v["test_error"] for k, v in pub.items()},
                              f"{table_name}: test error per row", out_dir / f"{table_name}_error.png",
                              away=away, away_label=f"ours, tested on {', '.join(away_data)}")
    figures.append(("Test error per row (dots: seeds; bars: mean ± sd; diamonds: Karpathy 2022 on MNIST)", path))
    curves = {name: pd.concat([read_history(r) for r in runs.loc[runs["name"] == name, "run"]], ignore_index=True)
              for name in order}
    path = plots.learning_curves(curves, f"{table_name}: learning curves", out_dir / f"{table_name}_curves.png", away)
    figures.append((f"Learning curves (mean over seeds; dashed: rows tested on another data set than "
                    f"{DATA_LABEL.get(home_data, home_data)})", path))

    home = summary[summary["data"] == spec.get("home_data")]
    if not home.empty:
        best = home.sort_values(["test_error_mean", "name"]).iloc[0]["name"]
        run = _first_run(runs, best)
        npz = Path(run["run"]) / "misclassified.npz"
        if npz.exists():
            wrong = np.load(npz)
            captions = [f"#{i}: {y}→{p}" for i, y, p in zip(wrong["index"], wrong["label"], wrong["pred"])]
            title = (f"The {len(captions)} test digits row `{best}` (seed {run['seed']}) still gets wrong "
                     "(test index: label→prediction)")
            path = plots.image_grid(wrong["image_u8"], captions, title, out_dir / f"{table_name}_misclassified.png")
            figures.append((f"Remaining test errors of the best row on {DATA_LABEL.get(spec['home_data'])}", path))
    kernels = {}
    for name in order:
        model = Path(_first_run(runs, name)["run"]) / "model.pt"
        if spec.get("first_layer") and model.exists():
            state = torch.load(model, map_location="cpu", weights_only=True)
            kernels[name] = state[spec["first_layer"]].squeeze(1).numpy()
    if kernels:
        path = plots.kernel_rows(kernels, "Learned first-layer (H1) kernels, lowest seed of each row",
                                 out_dir / f"{table_name}_h1_kernels.png")
        figures.append(("Learned H1 kernels (red positive, blue negative; each kernel on its own scale)", path))
    return figures


def write_experiment(table_name: str, runs: pd.DataFrame, skipped: Sequence[Skipped], out_dir: Path) -> list[Path]:
    """Write <table>.md, <table>.csv and the PNGs; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pub = PUBLISHED.get(table_name, {})
    md, csv = out_dir / f"{table_name}.md", out_dir / f"{table_name}.csv"
    if runs.empty:
        write_text_atomic(md, _markdown(table_name, runs, pd.DataFrame(columns=["name"]), [], skipped, pub, []))
        return [md]
    summary, order = tables(runs, table_name)
    era = str(runs["era"].iloc[0])
    figures = _figures(table_name, era, runs, summary, order, pub, out_dir)
    write_text_atomic(md, _markdown(table_name, runs, summary, order, skipped, pub, figures))
    write_text_atomic(csv, _csv(summary, order, pub))
    return [md, csv, *(p for _, p in figures)]

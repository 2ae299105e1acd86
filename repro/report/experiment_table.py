"""results/<era>/<table>.{md,csv} and its plots: one named experiment (a
Hydra sweep over rows and seeds), our numbers beside the published ones.

Rows appear in the order of the experiment's sweep (conf/<era>/experiment/<table>.yaml),
runs of one name that differ in other settings (rows.py) as rows of their own,
those settings as columns; a row's "Δ test" compares its mean test error with
the reference row of the same data set (the first row without tricks on that data).

The machinery is era-agnostic; what an era puts in (its headings, data labels,
published numbers, first layer) is an `ExperimentStyle` its reporter passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from repro.train.atomic import write_text_atomic

from . import plots, rows
from .collect import Skipped, row_curves
from .markdown import fmt, mean_sd, table
from .rows import settings_order
from .summary import split_names, summarise

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"


@dataclass(frozen=True)
class ExperimentStyle:
    """What an era's experiment tables say beyond the generic columns."""

    heading: str  # the title after "# `<table>`: "
    intro: str  # the paragraph under the title
    error_caption: str  # caption of the test-error-per-row plot
    data_header: str = "data (train images)"
    no_tricks: str = "—"  # the tricks cell of a row without tricks
    data_label: Mapping[str, str] = field(default_factory=dict)  # record `data` -> its name in tables
    # table -> row -> published numbers (train_error, test_error, test_misses, passes, data)
    published: Mapping[str, Mapping[str, Mapping]] = field(default_factory=dict)
    published_name: str = "published"  # column prefix: "<name> train %"; CSV: "<name, lower case>_train_error"
    published_label: str = "published"  # legend of the published numbers in the error plot
    # Columns after the published ones: (header, cell from a summary row).
    extra_columns: Sequence[tuple[str, Callable[[pd.Series], str]]] = ()
    home_data: str | None = None  # the data set of the era's paper (the misclassified grid shows its test set)
    first_layer: str | None = None  # state-dict key (model.pt) of the first layer's kernels
    kernels_file: str = "kernels"  # the kernel plot is <table>_<kernels_file>.png
    kernels_title: str = "Learned first-layer kernels, lowest seed of each row"
    kernels_caption: str = "Learned first-layer kernels (red positive, blue negative; each kernel on its own scale)"

    def label(self, data: str) -> str:
        return self.data_label.get(data, data)


def _conf_file(*parts: str) -> Path | None:
    """conf/<parts> or conf/<app>/<parts> (each app has its own config tree), whichever exists."""
    for path in (CONF_DIR.joinpath(*parts), *sorted(CONF_DIR.glob("*/" + "/".join(parts)))):
        if path.exists():
            return path
    return None


def row_order(table_name: str, names: Sequence[str]) -> list[str]:
    """Rows in the order of the experiment's sweep, then any others by name."""
    listed: list[str] = []
    path = _conf_file("experiment", f"{table_name}.yaml")
    if path is not None:
        params = ((yaml.safe_load(path.read_text()) or {}).get("hydra") or {}).get("sweeper", {}).get("params", {})
        for value in params.values():
            listed += [v.strip() for v in str(value).split(",")]
    present = set(names)
    return [n for n in listed if n in present] + sorted(present - set(listed))


def row_description(table_name: str, row: str) -> str:
    """The one-line comment under a row file's package line (what the row is)."""
    path = _conf_file("row", table_name, f"{row}.yaml")
    if path is None:
        return ""
    comments = [line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")]
    return next((c for c in comments if not c.startswith("@package")), "")


def _references(summary: pd.DataFrame, order: list[str]) -> dict[str, tuple[str, float]]:
    """data set -> (row, mean test error) of its reference row: the first row without tricks, else
    (a table whose baseline is itself a variant, e.g. Karpathy's protocol with his init) the first row."""
    refs: dict[str, tuple[str, float]] = {}
    firsts: dict[str, tuple[str, float]] = {}
    for row in order:
        r = summary[summary["row"] == row].iloc[0]
        firsts.setdefault(r["data"], (row, r["test_error_mean"]))
        if r["tricks"] == "" and r["data"] not in refs:
            refs[r["data"]] = (row, r["test_error_mean"])
    return {**firsts, **refs}


def _change(r: pd.Series, refs: dict[str, tuple[str, float]]) -> float | None:
    ref = refs.get(r["data"])
    return None if ref is None or ref[0] == r["row"] else _delta(r["test_error_mean"], ref[1])


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
    """The summary (one line per row) and the rows' labels, in the sweep's order of
    names, then by their settings (numbers by value)."""
    summary = summarise(runs)
    names = row_order(table_name, sorted(set(summary["name"])))
    rank = {n: i for i, n in enumerate(names)}
    summary = summary.assign(_rank=[rank[n] for n in summary["name"]],
                             _settings=[settings_order(s) for s in summary["settings"]])
    summary = summary.sort_values(["_rank", "_settings", "passes", "data", "row"], kind="stable")
    summary = summary.drop(columns=["_rank", "_settings"]).reset_index(drop=True)
    return summary, list(summary["row"])


def setting_keys(summary: pd.DataFrame) -> list[str]:
    """The keys that tell this table's rows apart beyond their names (rows.py)."""
    return [k for k, _ in summary["settings"].iloc[0]] if len(summary) else []


def _published_row(pub: dict, r: pd.Series) -> dict:
    """The published numbers of a row: only a row that is its name's recipe as listed (no settings of its own)."""
    return {} if r["settings"] else pub.get(r["name"], {})


def _csv(summary: pd.DataFrame, order: list[str], pub: dict, style: ExperimentStyle) -> str:
    key = style.published_name.lower()
    refs = _references(summary, order)
    rows = []
    for _, r in summary.iterrows():
        p = _published_row(pub, r)
        rows.append({
            "row": r["name"], **dict(r["settings"]), "tricks": r["tricks"], "data": r["data"], "n_train": r["n_train"], "passes": r["passes"],
            "seeds": r["seeds"], "train_error_mean": r["train_error_mean"], "train_error_sd": r["train_error_sd"],
            **{f"{s}_error_{m}": r[f"{s}_error_{m}"] for s in split_names(summary) for m in ("mean", "sd")},
            "test_error_mean": r["test_error_mean"], "test_error_sd": r["test_error_sd"],
            "test_misses_mean": r["test_misses_mean"], "test_misses_sd": r["test_misses_sd"],
            "test_error_change_pct": _change(r, refs),
            "wall_time_s_mean": r["wall_time_s_mean"], "backend": r["backend"], "hardware": r["hardware"],
            f"{key}_train_error": p.get("train_error"), f"{key}_test_error": p.get("test_error"),
            f"{key}_test_misses": p.get("test_misses"), f"{key}_passes": p.get("passes"),
            f"{key}_test_error_change_pct": _published_delta(pub, r["name"]) if p else None,
        })
    return pd.DataFrame(rows).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def _markdown(table_name: str, runs: pd.DataFrame, summary: pd.DataFrame, order: list[str], skipped: Sequence[Skipped],
              pub: dict, figures: Sequence[tuple[str, Path]], style: ExperimentStyle) -> str:
    refs = _references(summary, order)
    who = style.published_name
    keys = setting_keys(summary)
    splits = split_names(summary)  # a validation split, beside train and test
    headers = ["row", *keys, "tricks (applied in this order)", style.data_header, "passes", "seeds", "train error %",
               *(f"{s} error %" for s in splits), "test error %", "test misses", "Δ test", f"{who} train %", f"{who} test %", f"{who} misses",
               f"{who} Δ test", *(h for h, _ in style.extra_columns), "wall time (s)", "backend"]
    body = []
    for _, r in summary.iterrows():
        p = _published_row(pub, r)
        body.append([
            f"`{r['name']}`", *(v for _, v in r["settings"]), r["tricks"] or style.no_tricks, f"{style.label(r['data'])} ({r['n_train']:,})",
            r["passes"], r["seeds"], mean_sd(r["train_error_mean"], r["train_error_sd"]),
            *(mean_sd(r[f"{s}_error_mean"], r[f"{s}_error_sd"]) for s in splits),
            mean_sd(r["test_error_mean"], r["test_error_sd"]), mean_sd(r["test_misses_mean"], r["test_misses_sd"], 1),
            "reference" if refs.get(r["data"], ("",))[0] == r["row"] else _pct(_change(r, refs)),
            fmt(p.get("train_error")), fmt(p.get("test_error")), fmt(p.get("test_misses")),
            _pct(_published_delta(pub, r["name"]) if p else None), *(cell(r) for _, cell in style.extra_columns),
            fmt(r["wall_time_s_mean"], 0), r["backend"],
        ])
    text = [f"# `{table_name}`: {style.heading}\n\n", style.intro, table(headers, body)]
    names = list(dict.fromkeys(summary["name"])) if len(summary) else []
    described = [[f"`{name}`", row_description(table_name, name)] for name in names]
    if any(d for _, d in described):
        row_dir = _conf_file("row", table_name)
        where = row_dir.relative_to(ROOT).as_posix() if row_dir is not None else f"conf/row/{table_name}"
        text.append(f"\n## Rows\n\n(From the row configs, `{where}/`.)\n\n")
        text.append(table(["row", "what it is"], described))
    if figures:
        text.append("\n## Figures\n\n")
        for caption, path in figures:
            text.append(f"**{caption}**\n\n![{caption}]({path.name})\n\n")
    text.append("## Runs\n\n")
    per_run = [[f"`{r['name']}`", *(v for _, v in r["settings"]), r["seed"], fmt(r["train_error"]),
                *(fmt(r[f"{s}_error"]) for s in splits), fmt(r["test_error"]), r["train_misses"],
                r["test_misses"], fmt(r["wall_time_s"], 0), fmt(r["samples_per_s"], 0), r["backend"], r["hardware"],
                str(r["git_commit"])[:10]]
               for row in order for _, r in runs[runs["row"] == row].sort_values(["seed", "run"]).iterrows()]
    text.append(table(["row", *keys, "seed", "train error %", *(f"{s} error %" for s in splits), "test error %",
                       "train misses", "test misses", "wall time (s)",
                       "samples/s", "backend", "hardware", "commit"], per_run))
    text.append(skipped_section(skipped))
    return "".join(text)


def skipped_section(skipped: Sequence[Skipped]) -> str:
    """Diverged, duplicate, unfinished and malformed records: listed, never in a mean; and runs left out of
    the learning curves (no usable history.csv), which are counted in the tables."""
    if not skipped:
        return ""
    return "\n## Skipped records\n\n" + table(
        ["run", "row", "reason"], [[s.path.name, f"`{s.row}`" if s.row else "—", s.reason] for s in skipped])


def _first_run(runs: pd.DataFrame, row: str) -> pd.Series:
    return runs[runs["row"] == row].sort_values(["seed", "run"]).iloc[0]


def _figures(table_name: str, runs: pd.DataFrame, summary: pd.DataFrame, order: list[str], pub: dict,
             out_dir: Path, style: ExperimentStyle) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """The figures (caption, path), and the runs left out of the learning curves (collect.row_curves)."""
    figures = []
    home_data = style.home_data
    away = [n for n in order if home_data and summary.loc[summary["row"] == n, "data"].iloc[0] != home_data]
    away_data = sorted({style.label(d) for d in summary.loc[summary["row"].isin(away), "data"]})
    path = plots.error_by_row(order, runs.assign(name=runs["row"]), {k: v["test_error"] for k, v in pub.items()},
                              f"{table_name}: test error per row", out_dir / f"{table_name}_error.png",
                              published_label=style.published_label,
                              away=away, away_label=f"ours, tested on {', '.join(away_data)}")
    figures.append((style.error_caption, path))
    curves, left_out = row_curves({row: runs.loc[runs["row"] == row, "run"] for row in order})
    path = plots.learning_curves(curves, f"{table_name}: learning curves", out_dir / f"{table_name}_curves.png", away)
    figures.append((f"Learning curves (mean over seeds; dashed: rows tested on another data set than "
                    f"{style.data_label.get(home_data, home_data)})", path))

    home = summary[summary["data"] == home_data]
    if not home.empty:
        best = home.sort_values(["test_error_mean", "row"]).iloc[0]["row"]
        run = _first_run(runs, best)
        npz = Path(run["run"]) / "misclassified.npz"
        if npz.exists():
            wrong = np.load(npz)
            captions = [f"#{i}: {y}→{p}" for i, y, p in zip(wrong["index"], wrong["label"], wrong["pred"])]
            title = (f"The {len(captions)} test digits row `{best}` (seed {run['seed']}) still gets wrong "
                     "(test index: label→prediction)")
            path = plots.image_grid(wrong["image_u8"], captions, title, out_dir / f"{table_name}_misclassified.png")
            figures.append((f"Remaining test errors of the best row on {style.data_label.get(home_data)}", path))
    kernels = {}
    for name in order:
        model = Path(_first_run(runs, name)["run"]) / "model.pt"
        if style.first_layer and model.exists():
            state = torch.load(model, map_location="cpu", weights_only=True)
            kernels[name] = state[style.first_layer].squeeze(1).numpy()
    if kernels:
        path = plots.kernel_rows(kernels, style.kernels_title, out_dir / f"{table_name}_{style.kernels_file}.png")
        figures.append((style.kernels_caption, path))
    return figures, left_out


def write_experiment(table_name: str, runs: pd.DataFrame, skipped: Sequence[Skipped], out_dir: Path,
                     style: ExperimentStyle) -> list[Path]:
    """Write <table>.md, <table>.csv and the PNGs; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not runs.empty and "row" not in runs:  # not through `repro report`: tell rows and duplicates apart here
        runs, skipped = rows.resolve(runs, skipped)
    pub = style.published.get(table_name, {})
    md, csv = out_dir / f"{table_name}.md", out_dir / f"{table_name}.csv"
    if runs.empty:
        write_text_atomic(md, _markdown(table_name, runs, pd.DataFrame(columns=["name", "row", "settings"]), [], skipped, pub, [], style))
        return [md]
    summary, order = tables(runs, table_name)
    figures, left_out = _figures(table_name, runs, summary, order, pub, out_dir, style)
    write_text_atomic(md, _markdown(table_name, runs, summary, order, [*skipped, *left_out], pub, figures, style))
    write_text_atomic(csv, _csv(summary, order, pub, style))
    return [md, csv, *(p for _, p in figures)]

"""<table>_rejection.{md,csv,png}: the paper's rejection figure for any 1989 table whose runs recorded it.

Per row of a table (the baseline's lines, an experiment's rows): the error of the kept test digits
against the share rejected (rejecting by the smallest margin between the two largest outputs,
lecun1989/rejection.py), mean over seeds, and the rejection needed for 1% test error, mean ± sd
over seeds, beside what was found of the paper's number (published.py). Rows whose runs lack the
record (older records, validation runs that never read the test digits) are left out and named;
a table with no records gets no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from repro.report.markdown import fmt, mean_sd, table  # noqa: E402
from repro.report.plots import save  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402

from ..rejection import CRITERION, TARGET_ERROR, read_rejection, rejection_curve, rejection_for_error  # noqa: E402
from .published import LECUN_1989, REJECTION_NIPS_1989, REJECTION_PAPER, REJECTION_SECONDARY  # noqa: E402

GRID_STEP = 0.1  # % rejected between the points of a row's mean curve


def error_at(rejected: np.ndarray, error: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A curve read at each rejection of ``grid``: the error after rejecting at least that share
    (thresholds move in whole groups of equal margins, so a curve is a staircase)."""
    idx = np.minimum(np.searchsorted(rejected, grid - 1e-9, side="left"), len(rejected) - 1)
    return error[idx]


def row_results(runs: pd.DataFrame, order: Sequence[str], row_col: str = "row") -> pd.DataFrame:
    """One line per run that has the record: row, data, seed, run, test error and misses,
    the rejection for 1% error, and its curve."""
    lines = []
    for row in order:
        for _, r in runs[runs[row_col] == row].sort_values(["seed", "run"], kind="stable").iterrows():
            rec = read_rejection(r["run"])
            if rec is None:
                continue
            margin, correct = rec
            rejected, error = rejection_curve(margin, correct)
            lines.append({"row": row, "data": r["data"], "seed": int(r["seed"]), "run": str(r["run"]),
                          "test_error": float(r["test_error"]), "test_misses": int(r["test_misses"]),
                          "rejection": rejection_for_error(margin, correct), "curve": (rejected, error)})
    return pd.DataFrame(lines, columns=["row", "data", "seed", "run", "test_error", "test_misses", "rejection", "curve"])


def summarise_rows(per_run: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    out = []
    for row in order:
        g = per_run[per_run["row"] == row]
        if g.empty:
            continue
        rej = g["rejection"].to_numpy()
        out.append({"row": row, "data": g["data"].iloc[0], "seeds": len(g),
                    "test_error_mean": g["test_error"].mean(),
                    "test_error_sd": g["test_error"].std(ddof=1) if len(g) > 1 else np.nan,
                    "rejection_mean": rej.mean(), "rejection_sd": rej.std(ddof=1) if len(g) > 1 else np.nan})
    return pd.DataFrame(out, columns=["row", "data", "seeds", "test_error_mean", "test_error_sd",
                                      "rejection_mean", "rejection_sd"])


def _plot(per_run: pd.DataFrame, summary: pd.DataFrame, title: str, path: Path) -> Path:
    top = max(30.0, 1.5 * float(summary["rejection_mean"].max()))
    grid = np.round(np.arange(0.0, min(top, 100.0) + GRID_STEP / 2, GRID_STEP), 6)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for row in summary["row"]:
        curves = np.stack([error_at(*c, grid) for c in per_run.loc[per_run["row"] == row, "curve"]])
        mean = curves.mean(0)
        line, = ax.plot(grid, mean, linewidth=1.4, label=f"{row} (mean over {len(curves)} seeds)")
        if len(curves) > 1:
            ax.fill_between(grid, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.15, linewidth=0)
    ax.axhline(TARGET_ERROR, color="black", linestyle=":", linewidth=1, label=f"{TARGET_ERROR:g}% error")
    ax.scatter([REJECTION_SECONDARY["rejection_for_1pct_error"]], [TARGET_ERROR], marker="D", color="#c0392b",
               zorder=4, label=f"{REJECTION_SECONDARY['rejection_for_1pct_error']:g}% for 1% (secondary notes on "
               "the paper; its text not reached)")
    ax.set_xlabel("test digits rejected (%, smallest margin between the two largest outputs first)")
    ax.set_ylabel("error of the kept test digits (%)")
    ax.set_xlim(0, grid[-1])
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def _markdown(summary: pd.DataFrame, per_run: pd.DataFrame, missing: Sequence[str], title: str,
              data_label: dict, figure: Path) -> str:
    rows = [[f"**{r['row']}**", data_label.get(r["data"], r["data"]), r["seeds"],
             mean_sd(r["test_error_mean"], r["test_error_sd"]), mean_sd(r["rejection_mean"], r["rejection_sd"], 1)]
            for _, r in summary.iterrows()]
    rows.append(["LeCun et al. 1989 (paper)", "USPS", "—", fmt(LECUN_1989["test_error"]),
                 "not found (the paper's text was not reachable)"])
    text = [f"# {title}: the paper's rejection figure\n\n",
            "Generated by `repro report` from run records (`rejection.npz`); do not edit by hand. Criterion: "
            f"{CRITERION} (a threshold on the margin: digits of equal margin go together); the error is counted on "
            "the digits kept. *Rejection for 1% error*: the smallest share of the test digits whose rejection "
            "leaves at most 1% error among the rest, mean ± sample sd over seeds.\n\n",
            table(["row", "data", "seeds", "test error % (none rejected)", "rejection for 1% error (%)"], rows),
            "\n**The paper's number.** "
            + ("not found" if REJECTION_PAPER is None else fmt(REJECTION_PAPER, 1))
            + ": the text of LeCun et al. 1989 (Neural Computation 1(4)) was not reachable through the search "
            "tool, so no number is given as the paper's. Found instead, neither being the paper's text:\n\n"
            f"- {REJECTION_SECONDARY['source']}: \"{REJECTION_SECONDARY['quote']}\"\n"
            f"- {REJECTION_NIPS_1989['source']}: \"{REJECTION_NIPS_1989['quote']}\"\n",
            f"\n**Error against rejection** (lines: mean over seeds; bands: the seeds' range)\n\n"
            f"![Error against rejection]({figure.name})\n"]
    if missing:
        text.append("\nRows without rejection records (older records, or runs that never read the test digits): "
                    + ", ".join(f"`{m}`" for m in missing) + ".\n")
    text.append("\n## Runs\n\n")
    text.append(table(["row", "seed", "test error %", "test misses", "rejection for 1% error (%)", "run"],
                      [[r["row"], r["seed"], fmt(r["test_error"]), r["test_misses"], fmt(r["rejection"], 2),
                        f"`{Path(r['run']).name}`"] for _, r in per_run.iterrows()]))
    return "".join(text)


def _csv(summary: pd.DataFrame) -> str:
    frame = summary.assign(source="ours")
    paper = {"source": LECUN_1989["source"], "row": "", "data": "usps", "test_error_mean": LECUN_1989["test_error"],
             "rejection_mean": REJECTION_PAPER}
    frame = pd.concat([frame, pd.DataFrame([paper])], ignore_index=True)
    cols = ["source", "row", "data", "seeds", "test_error_mean", "test_error_sd", "rejection_mean", "rejection_sd"]
    return frame[cols].to_csv(index=False, float_format="%.6g", lineterminator="\n")


def write_rejection(runs: pd.DataFrame, order: Sequence[str], out_dir: Path, stem: str, title: str,
                    data_label: dict | None = None, row_col: str = "row") -> list[Path]:
    """The table's rejection files, or [] when none of its runs recorded the rejection."""
    if runs.empty or "run" not in runs:
        return []
    per_run = row_results(runs, order, row_col)
    if per_run.empty:
        return []
    summary = summarise_rows(per_run, order)
    missing = [row for row in order if row not in set(summary["row"])]
    out_dir.mkdir(parents=True, exist_ok=True)
    png = _plot(per_run, summary, f"{title}: error against rejection", out_dir / f"{stem}_rejection.png")
    md, csv = out_dir / f"{stem}_rejection.md", out_dir / f"{stem}_rejection.csv"
    write_text_atomic(md, _markdown(summary, per_run, missing, title, data_label or {}, png))
    write_text_atomic(csv, _csv(summary))
    return [md, csv, png]

"""Figure 1's rate search: each net's fastest rate, chosen on training error alone, and published.

The paper's caption: "The learning rates for each network were chosen independently to make training
as fast as possible." A `table: figure1_rates` run (conf/alexnet2012/experiment/figure1_rates.yaml) is one
net at one rate multiplier, stopped at 25% training error or at the search cap. The criterion is what the
figure measures, the speed to 25%:
  1. a run that reached 25% ranks by the passes it took (ties: the lower training error at that pass);
  2. then the runs that did not, by their training error after the cap (at a fixed budget the lower curve
     is the one nearer to 25%);
  3. a diverged run ranks last.
The test images play no part (their error is not read here). A best rate at the edge of the grid means
the grid is extended by a factor of 2 on that side before a rate is chosen (`next_rate`); a rate is
*chosen* only when it has a slower neighbour on both sides.

    python -m alexnet2012.report.figure1_pick [SWEEP ...]   # each net's pick, or the next rate to run
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from repro.report.markdown import fmt, table
from repro.report.plots import plt, save
from repro.train.atomic import write_text_atomic

from .fig1_runs import TARGET, Fig1Run, read_fig1_runs

TABLE = "figure1_rates"
DEFAULT_SWEEPS = ("results/alexnet2012/runs/figure1_rates",)
GRID_STEP = 2.0  # the factor between neighbouring rates, and the step an edge extends by


def rank_key(run: Fig1Run) -> tuple:
    """Smaller is faster (see the module's criterion)."""
    if run.diverged or run.final_train_error is None or math.isnan(run.final_train_error):
        return (2, 0.0, 0.0)
    at = run.epochs_to_target
    if at is not None:
        return (0, float(at), float(run.curve.loc[at]))
    return (1, float(run.final_train_error), 0.0)


def criterion_text(run: Fig1Run) -> str:
    if run.diverged:
        return f"diverged ({run.diverged})"
    at = run.epochs_to_target
    if at is not None:
        return f"25% after {at} passes"
    return f"{fmt(run.final_train_error)}% after {run.passes} passes"


@dataclass(frozen=True)
class Choice:
    net: str  # relu / tanh
    name: str  # fig1-relu / fig1-tanh
    best: Fig1Run
    runs: list[Fig1Run]  # the search, by rate
    next_rate: float | None  # the rate to run next when the best sits at the grid's edge, else None

    @property
    def chosen(self) -> bool:
        return self.next_rate is None

    @property
    def lr(self) -> float:
        return self.best.lr

    def text(self) -> str:
        if self.chosen:
            return f"{self.name}: chosen optim.lr={self.lr:g} ({criterion_text(self.best)})"
        side = "high" if self.next_rate > self.lr else "low"
        return (f"{self.name}: best so far optim.lr={self.lr:g} ({criterion_text(self.best)}) sits at the grid's "
                f"{side} edge: run optim.lr={self.next_rate:g} next")


def choices(runs: list[Fig1Run]) -> list[Choice]:
    """One choice per net and search (runs sharing their config but the rate)."""
    by_search: dict[str, list[Fig1Run]] = {}
    for run in runs:
        by_search.setdefault(run.search_key, []).append(run)
    out = []
    for group in by_search.values():
        group = sorted(group, key=lambda r: r.lr)
        best = min(group, key=lambda r: (rank_key(r), r.lr))
        rates = [r.lr for r in group]
        next_rate = None
        if best.lr == rates[-1] and rank_key(best)[0] < 2:
            next_rate = best.lr * GRID_STEP
        elif best.lr == rates[0]:
            next_rate = best.lr / GRID_STEP
        out.append(Choice(best.net, best.name, best, group, next_rate))
    return sorted(out, key=lambda c: (c.net, c.best.cap))


def chosen_rates(sweeps: list[Path]) -> dict[str, float]:
    """{'relu': lr, 'tanh': lr} for the nets whose search has settled (no edge left to extend)."""
    records = read_fig1_runs([s for s in sweeps if Path(s).exists()], TABLE)
    return {c.net: c.lr for c in choices(records.runs) if c.chosen}


def _plot(picks: list[Choice], png: Path) -> None:
    fig, axes = plt.subplots(1, max(1, len(picks)), figsize=(5.2 * max(1, len(picks)), 4.0), squeeze=False)
    for ax, choice in zip(axes[0], picks):
        colours = plt.cm.viridis([i / max(1, len(choice.runs) - 1) for i in range(len(choice.runs))])
        for run, colour in zip(choice.runs, colours):
            if not len(run.curve):
                continue
            ax.plot(run.curve.index, run.curve.to_numpy(), "--" if run.net == "tanh" else "-", color=colour,
                    linewidth=2.0 if run is choice.best else 1.0,
                    label=f"x{run.lr:g}{' (pick)' if run is choice.best and choice.chosen else ''}")
        ax.axhline(TARGET, color="grey", linewidth=0.8)
        ax.set_title(f"{choice.name}: training error by rate", fontsize=9)
        ax.set_xlabel("Epochs")
        ax.set_ylabel("Training error rate (%)")
        ax.set_ylim(0, 80)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    save(fig, png)


def write_figure1_rates(sweep: Path, stem: Path) -> list[Path]:
    records = read_fig1_runs([sweep], TABLE)
    picks = choices(records.runs)
    png = stem.with_suffix(".png")
    _plot(picks, png)
    rows, md_rows = [], []
    for choice in picks:
        ranked = sorted(choice.runs, key=lambda r: (rank_key(r), r.lr))
        for run in choice.runs:
            m = run.metrics
            row = {"net": run.name, "lr": run.lr, "seed": run.seed, "cap": run.cap, "passes": run.passes,
                   "epochs_to_25": run.epochs_to_target, "final_train_error": run.final_train_error,
                   "diverged": run.diverged, "rank": ranked.index(run) + 1,
                   "pick": run is choice.best and choice.chosen,
                   "wall_time_s": float(m.get("wall_time_s") or 0.0),
                   "hardware": (m.get("environment") or {}).get("hardware", "unknown"),
                   "git_commit": ((m.get("environment") or {}).get("git") or {}).get("commit", "unknown")}
            rows.append(row)
            md_rows.append([run.name, f"x{run.lr:g}", run.seed, run.cap, fmt(run.epochs_to_target),
                            fmt(run.final_train_error), criterion_text(run), row["rank"],
                            "**pick**" if row["pick"] else "", fmt(row["wall_time_s"] / 60, 1), row["hardware"]])
    decisions = "".join(f"- {c.text()}\n" for c in picks)
    md = "".join([
        "# Figure 1's rates, chosen per net on training error\n\n",
        f"Generated by `repro report` from the records under `{sweep}` "
        "(conf/alexnet2012/experiment/figure1_rates.yaml). The paper's caption: \"The learning rates for each "
        "network were chosen independently to make training as fast as possible. No regularization of any kind "
        "was employed.\" `optim.lr` multiplies every layer's cuda-convnet rate (epsW 0.001, epsB 0.002). One "
        "seed per rate.\n\n",
        "**Criterion** (what the figure measures, the speed to 25% training error, on the training images "
        "only): a run stops at 25% or at its cap; runs that got there rank by the passes they took (ties: the "
        "lower error at that pass), then the others by their training error after the cap, then diverged "
        "runs. A best rate at the grid's edge extends the grid by a factor of 2 on that side; a rate is "
        "chosen only when slower rates lie on both sides of it.\n\n",
        table(["net", "rate", "seed", "cap", "epochs to 25%", "final train error %", "criterion", "rank", "",
               "wall time (min)", "hardware"], md_rows) if md_rows else "No finished runs.\n",
        f"\n{decisions}" if decisions else "",
        "".join(f"\nNot used: {line}\n" for line in sorted(records.skipped)),
        f"\n![rates]({png.name})\n",
    ])
    write_text_atomic(stem.with_suffix(".md"), md)
    write_text_atomic(stem.with_suffix(".csv"), pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), png]


if __name__ == "__main__":  # the command lives in figure1_pick.py (run as a module without runpy's warning)
    from .figure1_pick import main

    sys.exit(main())

"""The AlexNet paper's Figure 1 from run records: training error against epochs, ReLU vs tanh.

Paper: "A four-layer convolutional neural network with ReLUs (solid line)
reaches a 25% training error rate on CIFAR-10 six times faster than an
equivalent network with tanh neurons (dashed line). The learning rates for
each network were chosen independently to make training as fast as possible."
Each finished run of a `table: figure1` sweep is one curve (its history's
train_error, measured on a fixed subset of training images after every pass).
Runs are grouped by configuration (fig1_runs.py, as every table): a row is one
net at one rate and cap, over seeds. A ReLU row and a tanh row of the same
protocol are a *pair* and give one ratio per seed: at the rates the search chose
for each net (figure1_rates.py, the caption's protocol) when that search has
settled, and at one common rate otherwise (labelled as not the caption's).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from repro.report.markdown import fmt, table
from repro.report.plots import plt, save
from repro.train.atomic import write_text_atomic

from .fig1_runs import TARGET, Fig1Run, epochs_to, net_of, read_fig1_runs
from .figure1_rates import chosen_rates

__all__ = ["TARGET", "PAPER_RATIO", "epochs_to", "SeedRatio", "seed_ratios", "summary", "Pair", "pairs",
           "write_figure1", "rates_search_of"]

PAPER_RATIO = 6.0
TABLE = "figure1"


@dataclass(frozen=True)
class SeedRatio:
    """One seed's tanh / ReLU epochs to the target; a lower bound where tanh never got there."""

    seed: int
    relu_epochs: int
    tanh_epochs: int | None  # None: still above the target after ``tanh_passes``
    tanh_passes: int

    @property
    def value(self) -> float:
        return (self.tanh_epochs or self.tanh_passes) / self.relu_epochs

    @property
    def is_bound(self) -> bool:
        return self.tanh_epochs is None

    def text(self) -> str:
        return f"more than {fmt(self.value, 1)}" if self.is_bound else fmt(self.value, 1)


def seed_ratios(runs: list[tuple[str, int, int | None, int]]) -> list[SeedRatio]:
    """From (net name, seed, epochs to the target or None, passes run) of one pair of rows: one ratio per
    seed with both a ReLU run that reached the target and a tanh run."""
    by = {(net_of(name), seed): (at, passes) for name, seed, at, passes in runs}
    out = []
    for (net, seed), (relu_at, _) in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if net == "relu" and relu_at and ("tanh", seed) in by:
            tanh_at, tanh_passes = by[("tanh", seed)]
            out.append(SeedRatio(seed, relu_at, tanh_at, tanh_passes))
    return out


def summary(ratios: list[SeedRatio]) -> str:
    """The ratio over seeds: mean ± sd; where tanh never reached the target in some seed, that seed
    counts at its bound and the mean is a lower bound (the true mean is at least as large)."""
    if not ratios:
        return "—"
    values = [r.value for r in ratios]
    mean = statistics.fmean(values)
    n, bounds = len(ratios), sum(r.is_bound for r in ratios)
    spread = f", {fmt(min(values), 1)}-{fmt(max(values), 1)}" if n > 1 else ""
    sd = f" ± {fmt(statistics.stdev(values), 1)}" if n > 1 and not bounds else ""
    caps = "/".join(sorted({str(r.tanh_passes) for r in ratios if r.is_bound}))
    if not bounds:
        return f"{fmt(mean, 1)}{sd} ({'mean of ' + str(n) + ' seeds' if n > 1 else '1 seed'}{spread})"
    if n == 1:
        return f"more than {fmt(mean, 1)} (1 seed; tanh still above {TARGET:g}% after {caps} passes)"
    return (f"more than {fmt(mean, 1)} (mean of {n} seeds{spread}; tanh still above {TARGET:g}% after {caps} "
            f"passes in {bounds} of them, counted at that cap)")


@dataclass(frozen=True)
class Pair:
    """A ReLU row and a tanh row of one protocol, and their ratio per seed."""

    relu: list[Fig1Run]
    tanh: list[Fig1Run]
    chosen: bool  # both at the rates the search chose for them (the caption's protocol)

    @property
    def ratios(self) -> list[SeedRatio]:
        return seed_ratios([(r.name, r.seed, r.epochs_to_target, r.passes) for r in self.relu + self.tanh
                            if not r.diverged])

    @property
    def runs(self) -> list[Fig1Run]:
        return self.relu + self.tanh

    @property
    def label(self) -> str:
        relu_lr, tanh_lr = self.relu[0].lr, self.tanh[0].lr
        if self.chosen:
            return f"rates chosen per net (ReLU x{relu_lr:g}, tanh x{tanh_lr:g}; figure1_rates.md)"
        if relu_lr == tanh_lr:
            cap = f", cap {self.tanh[0].cap}" if self.tanh[0].cap else ""
            return f"one rate for both nets (x{relu_lr:g}{cap}): not the caption's protocol, which chose each net's rate"
        return f"ReLU x{relu_lr:g}, tanh x{tanh_lr:g} (not the rates the search chose)"


def _rows(runs: list[Fig1Run]) -> dict[str, list[Fig1Run]]:
    rows: dict[str, list[Fig1Run]] = {}
    for run in runs:
        rows.setdefault(run.row_key, []).append(run)
    return rows


def pairs(runs: list[Fig1Run], chosen: dict[str, float]) -> list[Pair]:
    """Every ReLU row with the tanh row of its protocol: at the chosen rates, or at one common rate.
    The pair at the chosen rates comes first."""
    out = []
    by_protocol: dict[str, list[list[Fig1Run]]] = {}
    for row in _rows(runs).values():
        by_protocol.setdefault(row[0].pair_key, []).append(row)
    for rows in by_protocol.values():
        relus = [r for r in rows if r[0].net == "relu"]
        tanhs = [r for r in rows if r[0].net == "tanh"]
        for relu in relus:
            for tanh in tanhs:
                is_chosen = chosen.get("relu") == relu[0].lr and chosen.get("tanh") == tanh[0].lr
                if is_chosen or relu[0].lr == tanh[0].lr:
                    out.append(Pair(relu, tanh, is_chosen))
    # The chosen rates first; then the pair with the most seeds (a stray short run of another config is
    # its own pair, never the one reported); then by rate and cap, for the same order every time.
    return sorted(out, key=lambda p: (not p.chosen, -len(p.ratios), p.relu[0].lr, p.tanh[0].lr, p.tanh[0].cap,
                                      str(p.relu[0].path)))


def headline_pair(found: list[Pair]) -> Pair | None:
    """The pair the headline reports: the chosen rates' once it has a ratio, else the first with one."""
    with_ratio = [p for p in found if p.ratios]
    return with_ratio[0] if with_ratio else None


def rates_search_of(sweep: Path) -> Path:
    """Where a figure1 sweep's rate search lies: the `figure1_rates` folder beside it."""
    return Path(sweep).parent / "figure1_rates"


def _seeds_note(runs: list[Fig1Run]) -> str:
    if not runs:
        return ""
    return (f"A run stops after the first pass at or below {TARGET:g}% (`trainer.stop_split=train`), so `passes` is "
            "where it stopped, or its cap when it never got there. A second run of one row with the same seed is "
            "a duplicate, listed below and never counted.\n\n")


def _plot(found: list[Pair], png: Path) -> None:
    shown = found or []
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(6 * max(1, len(shown)), 4.2), squeeze=False)
    for ax, pair in zip(axes[0], shown):
        for net, runs in (("ReLU", pair.relu), ("tanh", pair.tanh)):
            for i, run in enumerate(sorted(runs, key=lambda r: r.seed)):
                seeds = ", ".join(str(r.seed) for r in sorted(runs, key=lambda r: r.seed))
                label = f"{net}, x{run.lr:g} (seed{'s' if len(runs) > 1 else ''} {seeds})" if i == 0 else None
                ax.plot(run.curve.index, run.curve.to_numpy(), "--" if net == "tanh" else "-", color="black",
                        label=label, linewidth=1.0, alpha=0.85)
        ax.axhline(TARGET, color="grey", linewidth=0.8)
        ax.set_xlabel("Epochs")
        ax.set_ylabel("Training error rate (%)")
        ax.set_ylim(0, 80)
        ax.set_title(("Figure 1: " + pair.label)[:95], fontsize=8)
        ax.legend(fontsize=8)
    if not shown:
        axes[0][0].set_title("Figure 1: no ReLU/tanh pair finished yet", fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    save(fig, png)


def write_figure1(sweep: Path, stem: Path) -> list[Path]:
    records = read_fig1_runs([sweep], TABLE, untabled=True)
    runs = [r for r in records.runs if not r.diverged]
    diverged = [f"{r.path.name}: {r.diverged}" for r in records.runs if r.diverged]
    search = rates_search_of(sweep)
    chosen = chosen_rates([search]) if search.is_dir() else {}
    found = pairs(runs, chosen)
    png = stem.with_suffix(".png")
    _plot(found, png)
    rows = [{"row": r.name, "lr": r.lr, "cap": r.cap, "seed": r.seed, "passes": r.passes,
             "epochs_to_25": r.epochs_to_target, "final_train_error": r.final_train_error,
             "final_val_error": float(r.metrics["final"]["val"]["error"]),
             "wall_time_s": float(r.metrics["wall_time_s"]),
             "hardware": (r.metrics.get("environment") or {}).get("hardware"),
             "git_commit": ((r.metrics.get("environment") or {}).get("git") or {}).get("commit", "unknown")}
            for r in runs]
    md_rows = [[r["row"], f"x{r['lr']:g}", fmt(r["cap"] or None), r["seed"], r["passes"], fmt(r["epochs_to_25"]),
                fmt(r["final_train_error"]), fmt(r["final_val_error"]), fmt(r["wall_time_s"] / 60, 1),
                r["hardware"]] for r in rows]
    if chosen.keys() >= {"relu", "tanh"}:
        rates = (f"Rates chosen per net on training error by the search ([figure1_rates.md](figure1_rates.md)): "
                 f"ReLU x{chosen['relu']:g}, tanh x{chosen['tanh']:g}.\n\n")
    else:
        rates = ("Rates not yet chosen per net: the search ([figure1_rates.md](figure1_rates.md)) has not settled "
                 "for both nets, so every ratio below is at one common rate, not the caption's protocol.\n\n")
    sections = []
    for pair in found:
        ratios = pair.ratios
        sections.append(f"\n**{pair.label}: tanh / ReLU epochs to 25%: {summary(ratios)}** (paper: "
                        f"~{PAPER_RATIO:.0f}).\n")
        if ratios:
            sections.append("\n" + table(["seed", "ReLU epochs to 25%", "tanh epochs to 25%", "tanh / ReLU"],
                                         [[r.seed, r.relu_epochs, r.tanh_epochs or f"not within {r.tanh_passes}",
                                           r.text()] for r in ratios]))
    md = "".join([
        "# Figure 1 of Krizhevsky et al. 2012, regenerated\n\n",
        f"Generated by `repro report` from the records under `{sweep}`. Training error: centre view of a fixed "
        "subset of training images after every pass. Paper: the ReLU net reaches 25% training error "
        f"about {PAPER_RATIO:.0f}x sooner than the tanh net, each at the rate that trains it fastest.\n\n",
        rates,
        _seeds_note(runs),
        table(["row", "rate", "cap", "seed", "passes", "epochs to 25% train error", "final train error %",
               "final test error %", "wall time (min)", "hardware"], md_rows) if md_rows else "No finished runs.\n",
        "".join(sections),
        "".join(f"\nDiverged, not in the table: {line}\n" for line in sorted(diverged)),
        "".join(f"\nNot used: {line}\n" for line in sorted(records.skipped)),
        f"\n![Figure 1]({png.name})\n",
    ])
    write_text_atomic(stem.with_suffix(".md"), md)
    write_text_atomic(stem.with_suffix(".csv"), pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), png]

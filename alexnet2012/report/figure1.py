"""The AlexNet paper's Figure 1 from run records: training error against epochs, ReLU vs tanh.

Paper: "A four-layer convolutional neural network with ReLUs (solid line)
reaches a 25% training error rate on CIFAR-10 six times faster than an
equivalent network with tanh neurons (dashed line)." Each finished run of a
`table: figure1` sweep is one curve (its history's train_error, measured on a
fixed subset of training images after every pass); the table gives the first
pass at or below 25% and the tanh/ReLU ratio beside the paper's ~6.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from repro.report.collect import find_run_dirs, record_era
from repro.report.markdown import fmt, table
from repro.report.plots import plt, save
from repro.train.atomic import write_text_atomic
from repro.train.record import DivergedRun, RecordError, read_metrics

TARGET = 25.0  # % training error
PAPER_RATIO = 6.0


def epochs_to(curve: pd.Series, target: float = TARGET) -> int | None:
    """The first pass (1-based) whose training error is at or below ``target``."""
    hits = curve.index[curve.to_numpy() <= target]
    return int(hits[0]) if len(hits) else None


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
    """From (net name, seed, epochs to the target or None, passes run): one ratio per seed with both a
    ReLU net that reached the target and a tanh net."""
    by = {("relu" if "relu" in name else "tanh" if "tanh" in name else name, seed): (at, passes)
          for name, seed, at, passes in runs}
    out = []
    for (net, seed), (relu_at, _) in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if net == "relu" and relu_at and ("tanh", seed) in by:
            tanh_at, tanh_passes = by[("tanh", seed)]
            out.append(SeedRatio(seed, relu_at, tanh_at, tanh_passes))
    return out


def summary(ratios: list[SeedRatio]) -> str:
    """The ratio over seeds: their mean; where tanh never reached the target in some seed, that seed
    counts at its bound and the mean is a lower bound (the true mean is at least as large)."""
    if not ratios:
        return "—"
    mean = sum(r.value for r in ratios) / len(ratios)
    n, bounds = len(ratios), sum(r.is_bound for r in ratios)
    spread = f", {fmt(min(r.value for r in ratios), 1)}-{fmt(max(r.value for r in ratios), 1)}" if n > 1 else ""
    caps = "/".join(sorted({str(r.tanh_passes) for r in ratios if r.is_bound}))
    if not bounds:
        return f"{fmt(mean, 1)} ({'mean of ' + str(n) + ' seeds' if n > 1 else '1 seed'}{spread})"
    if n == 1:
        return f"more than {fmt(mean, 1)} (1 seed; tanh still above {TARGET:g}% after {caps} passes)"
    return (f"more than {fmt(mean, 1)} (mean of {n} seeds{spread}; tanh still above {TARGET:g}% after {caps} "
            f"passes in {bounds} of them, counted at that cap)")


def _seeds_note(rows: list[dict]) -> str:
    """How many seeds each net has, said in the page (the ratio of one seed is one draw)."""
    if not rows:
        return ""
    counts = pd.Series([r["row"] for r in rows]).value_counts()
    seeds = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
    one = " One seed per net: a single draw of the ratio, not a mean." if counts.max() == 1 else ""
    return (f"Seeds per net: {seeds}.{one} A run stops after the first pass at or below {TARGET:g}% "
            "(`trainer.stop_split=train`), so `passes` is where it stopped, or the cap when it never got there.\n\n")


def write_figure1(sweep: Path, stem: Path) -> list[Path]:
    curves, rows, diverged = {}, [], []
    for path in find_run_dirs([sweep]):
        if record_era(path) not in ("alexnet2012", None):
            continue  # another era's run in the same folder: its own era's table has it
        try:
            m = read_metrics(path)
            history = pd.read_csv(path / "history.csv").set_index("pass")
            curve = history["train_error"]
        except DivergedRun as exc:  # finished, but no result: listed below the table, never in it
            diverged.append(f"{path.name}: {exc}")
            continue
        except (RecordError, FileNotFoundError, KeyError):
            continue  # unfinished or without a training-set evaluation: not a curve
        name, seed = m["name"], int(m.get("seed") or 0)
        curves[(name, seed)] = curve
        rows.append({"row": name, "seed": seed, "passes": int(m["passes"]), "epochs_to_25": epochs_to(curve),
                     "final_train_error": float(curve.iloc[-1]), "final_val_error": float(m["final"]["val"]["error"]),
                     "wall_time_s": float(m["wall_time_s"]), "hardware": (m.get("environment") or {}).get("hardware")})
    rows.sort(key=lambda r: (r["row"], r["seed"]))
    ratios = seed_ratios([(r["row"], r["seed"], r["epochs_to_25"], r["passes"]) for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    seeds_of: dict[str, list[int]] = {}
    for name, seed in sorted(curves):
        seeds_of.setdefault(name, []).append(seed)
    for (name, seed), curve in sorted(curves.items()):
        seeds = seeds_of[name]  # one legend entry per net, on its first seed's curve
        plural = "s" if len(seeds) > 1 else ""
        label = f"{name} (seed{plural} {', '.join(map(str, seeds))})" if seed == seeds[0] else None
        ax.plot(curve.index, curve.to_numpy(), "--" if "tanh" in name else "-", color="black", label=label,
                linewidth=1.0, alpha=0.85)
    ax.axhline(TARGET, color="grey", linewidth=0.8)
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Training error rate (%)")
    ax.set_ylim(0, 80)
    ax.set_title("Figure 1 regenerated: ReLU (solid) vs tanh (dashed), CIFAR-10", fontsize=9)
    if curves:
        ax.legend(fontsize=8)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    save(fig, png)
    md_rows = [[r["row"], r["seed"], r["passes"], fmt(r["epochs_to_25"]), fmt(r["final_train_error"]),
                fmt(r["final_val_error"]), fmt(r["wall_time_s"] / 60, 1), r["hardware"]] for r in rows]
    md = "".join([
        "# Figure 1 of Krizhevsky et al. 2012, regenerated\n\n",
        f"Generated by `repro report` from the records under `{sweep}`. Training error: centre view of a fixed "
        "subset of training images after every pass. Paper: the ReLU net reaches 25% training error "
        f"about {PAPER_RATIO:.0f}x sooner than the tanh net.\n\n",
        _seeds_note(rows),
        table(["row", "seed", "passes", "epochs to 25% train error", "final train error %", "final test error %",
               "wall time (min)", "hardware"], md_rows) if md_rows else "No finished runs.\n",
        (f"\n**tanh / ReLU epochs to 25%: {summary(ratios)}** (paper: ~{PAPER_RATIO:.0f}).\n" if rows else ""),
        ("\n" + table(["seed", "ReLU epochs to 25%", "tanh epochs to 25%", "tanh / ReLU"],
                      [[r.seed, r.relu_epochs, r.tanh_epochs or f"not within {r.tanh_passes}", r.text()]
                       for r in ratios]) if len(ratios) > 1 else ""),
        "".join(f"\nDiverged, not in the table: {line}\n" for line in sorted(diverged)),
        f"\n![Figure 1]({png.name})\n",
    ])
    write_text_atomic(stem.with_suffix(".md"), md)
    frame = pd.DataFrame(rows)
    write_text_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False, lineterminator="\n"))
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), png]

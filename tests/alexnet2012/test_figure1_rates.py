"""Figure 1 at each net's own fastest rate (alexnet2012/report/figure1_rates.py, figure1.py, headline.py):
the search's criterion and its edge rule, the published pick, the page's pairs (chosen rates first, one common
rate labelled as not the caption's protocol), grouping by config (a stray run of another config or a second run
of one seed never replaces or adds a seed), and the headline's status from the chosen pair."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from alexnet2012.report import sweep_table
from alexnet2012.report.fig1_runs import read_fig1_runs
from alexnet2012.report.figure1_pick import main
from alexnet2012.report.figure1_rates import TABLE, choices, chosen_rates, rank_key
from alexnet2012.report.headline import headline
from repro.report.headline import HeadlineInput, status
from repro.train.record import RunDir, write_metrics

FIG1 = "AlexNet 2012, Figure 1: tanh / ReLU epochs to 25% train error"


def record(path, net, curve, *, lr=1.0, seed=0, table="figure1", cap=45, diverged=False, day=None, **extra):
    """A finished Figure 1 record of net ('relu'/'tanh') at rate multiplier ``lr``, stopped at 25% or at ``cap``."""
    path.mkdir(parents=True)
    config = {"name": f"fig1-{net}", "table": table, "seed": seed, "model": {"name": f"fig1-{net}", "neuron": net},
              "optim": {"lr": lr}, "trainer": {"epochs": cap, "stop_split": "train", "stop_error": 25.0, **extra}}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    lines = ["pass,train_error,val_error"] + [f"{i},{e},{e + 5}" for i, e in enumerate(curve, 1)]
    (path / "history.csv").write_text("\n".join(lines) + "\n")
    metrics = {"era": "alexnet2012", "name": f"fig1-{net}", "table": table, "data": "cifar10", "n_train": 50000,
               "n_test": 10000, "seed": seed, "passes": len(curve), "world_size": 1, "config": config,
               "final": {"val": {"loss": 1.0, "error": curve[-1] + 5, "misses": 1, "top5_error": 1.0},
                         "train": {"loss": 1.0, "error": curve[-1], "misses": 1, "top5_error": 1.0}},
               "wall_time_s": 60.0, "samples_per_s": 1000.0, "finished_at": f"2026-12-0{day or seed + 1}T00:00:00+00:00",
               "environment": {"hardware": "test cpu", "git": {"commit": "abc"}}}
    if diverged:
        metrics.update(status="diverged", diverged={"pass": 2, "step": 3, "cause": "the training loss is nan"})
    write_metrics(RunDir(path), metrics)


def search(root, net, results):
    """A rate search: {lr: curve or 'diverged'}, cap 10, seed 0."""
    for i, (lr, curve) in enumerate(sorted(results.items())):
        bad = curve == "diverged"
        record(root / f"{i}_fig1-{net}_lr{lr}_seed0", net, [80.0, float("nan")] if bad else curve, lr=lr,
               table=TABLE, cap=10, diverged=bad)


def test_criterion_passes_to_25_then_error_at_the_cap_then_diverged(tmp_path):
    root = tmp_path / "figure1_rates"
    search(root, "relu", {0.5: [60, 50, 40, 30, 26, 25.0], 1.0: [60, 40, 24.0], 2.0: [50, 30, 24.5],
                          4.0: [70] * 10, 8.0: "diverged"})
    runs = read_fig1_runs([root], TABLE).runs
    keys = {r.lr: rank_key(r) for r in runs}
    # 1x and 2x both reach 25% at pass 3: the lower error there wins; 0.5x later; 4x never; 8x diverged.
    assert sorted(keys, key=lambda lr: (keys[lr], lr)) == [1.0, 2.0, 0.5, 4.0, 8.0]
    (pick,) = choices(runs)
    assert pick.chosen and pick.lr == 1.0 and pick.text() == "fig1-relu: chosen optim.lr=1 (25% after 3 passes)"


def test_best_at_an_edge_extends_the_grid_before_anything_is_chosen(tmp_path):
    root = tmp_path / "figure1_rates"
    search(root, "tanh", {0.5: [80] * 10, 1.0: [70] * 9 + [48.0], 2.0: [60] * 9 + [40.0]})
    (pick,) = choices(read_fig1_runs([root], TABLE).runs)
    assert not pick.chosen and pick.lr == 2.0 and pick.next_rate == 4.0 and "high edge" in pick.text()
    assert chosen_rates([root]) == {}
    search(root / "more", "tanh", {4.0: [60] * 9 + [45.0]})  # slower than 2x: 2x is chosen
    assert chosen_rates([root]) == {"tanh": 2.0}
    search(root / "low", "relu", {1.0: [60, 24], 2.0: [60, 30, 24]})  # best at the low edge: try 0.5 next
    picks = {c.net: c for c in choices(read_fig1_runs([root], TABLE).runs)}
    assert picks["relu"].next_rate == 0.5 and chosen_rates([root]) == {"tanh": 2.0}


def test_the_search_page_and_the_command_that_says_the_pick(tmp_path, capsys):
    root = tmp_path / "runs" / "figure1_rates"
    search(root / "relu", "relu", {0.5: [60, 40, 30, 24], 1.0: [60, 24.0], 2.0: [60, 30, 24]})
    search(root / "tanh", "tanh", {0.5: [80] * 10, 1.0: [70] * 9 + [48.0], 2.0: [60] * 9 + [49.0]})
    out = sweep_table(root, tmp_path / "out" / "figure1_rates")
    md = (tmp_path / "out" / "figure1_rates.md").read_text()
    assert [p.name for p in out] == ["figure1_rates.csv", "figure1_rates.md", "figure1_rates.png"]
    assert "| fig1-relu | x1 | 0 | 10 | 2 | 24.00 | 25% after 2 passes | 1 | **pick** |" in md
    assert "| fig1-tanh | x2 | 0 | 10 | — | 49.00 | 49.00% after 10 passes | 2 |  |" in md
    assert "- fig1-tanh: chosen optim.lr=1 (48.00% after 10 passes)" in md
    csv = pd.read_csv(tmp_path / "out" / "figure1_rates.csv")
    assert sorted(csv.loc[csv["pick"], "lr"]) == [1.0, 1.0] and set(csv["git_commit"]) == {"abc"}
    assert main([str(root), "--net", "tanh"]) == 0 and capsys.readouterr().out == "1\n"
    assert main([str(tmp_path / "nowhere")]) == 2 and "no such folder" in capsys.readouterr().err


def test_figure1_pairs_the_chosen_rates_and_keeps_the_common_rate_rows_apart(tmp_path):
    runs = tmp_path / "runs"
    search(runs / "figure1_rates" / "relu", "relu", {1.0: [60, 30, 24], 2.0: [60, 24.0], 4.0: [60, 30, 24]})
    search(runs / "figure1_rates" / "tanh", "tanh", {2.0: [70] * 10, 4.0: [60] * 10, 8.0: [65] * 10})
    fig = runs / "figure1"
    for seed in (0, 1, 2):  # the old protocol: one rate, cap 45, tanh never there
        record(fig / "old" / f"r{seed}", "relu", [60] * 6 + [24], seed=seed)
        record(fig / "old" / f"t{seed}", "tanh", [50] * 45, seed=seed)
    for seed, tanh_at in ((1, 12), (2, 14), (3, 10)):  # the chosen rates, cap 120
        record(fig / "chosen" / f"r{seed}", "relu", [60, 24], lr=2.0, seed=seed, cap=120)
        record(fig / "chosen" / f"t{seed}", "tanh", [60] * (tanh_at - 1) + [24], lr=4.0, seed=seed, cap=120)
    # Hostile: two short runs of seed 0 with another config, and a second run of a chosen seed.
    record(fig / "stray" / "r0", "relu", [24.0], seed=0, data_n_train=2000)
    record(fig / "stray" / "t0", "tanh", [30, 20.0], seed=0, data_n_train=2000)
    record(fig / "again" / "t1", "tanh", [24.0], lr=4.0, seed=1, cap=120, day=9)  # finished later
    sweep_table(fig, tmp_path / "figure1")
    md = (tmp_path / "figure1.md").read_text()
    assert "Rates chosen per net on training error by the search" in md and "ReLU x2, tanh x4." in md
    assert ("**rates chosen per net (ReLU x2, tanh x4; figure1_rates.md): tanh / ReLU epochs to 25%: 6.0 ± 1.0 "
            "(mean of 3 seeds, 5.0-7.0)** (paper: ~6)") in md
    assert "one rate for both nets (x1, cap 45): not the caption's protocol" in md
    assert "t1: duplicate of" in md and "not counted" in md
    got = {r.number: r for r in headline(HeadlineInput(pd.DataFrame(), [fig, runs / "figure1_rates"],
                                                       tmp_path)).rows}
    row = got[FIG1]
    assert row.values == (6.0, 7.0, 5.0) and not row.shortened and status(row) == "reproduced"
    # Without the search, the headline falls back to the common rate: the old rows, never the stray pair.
    row = {r.number: r for r in headline(HeadlineInput(pd.DataFrame(), [fig], tmp_path)).rows}[FIG1]
    assert row.bound == pytest.approx(45 / 7) and "not chosen per net" in row.shortened

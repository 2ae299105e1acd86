"""Diverged runs in reports: listed apart with "diverged at pass k, step s", never in a mean or a table row,
in `repro report` (both eras), `repro runs` and the 2012 era's own sweep tables."""

import json

import pandas as pd
import pytest

from alexnet2012.report.cudaconvnet import write_cudaconvnet_table
from alexnet2012.report.figure1 import write_figure1
from repro.cli import main as repro_main
from repro.report.collect import collect
from repro.report.run_table import run_rows
from repro.train.record import DivergedRun, RunDir, read_metrics, write_diverged, write_metrics

ENV = {"hardware": "Test CPU (2 cores)", "git": {"commit": "abc1234def5678"}, "torch": "2.14.1"}
DIVERGED = {"pass": 2, "step": 17, "global_step": 7308, "loss": None, "cause": "the training loss is nan"}
REASON = "diverged at pass 2, step 17 (the training loss is nan)"


def lecun_record(seed, train_err, test_err, test_misses):
    return {
        "era": "lecun1989", "name": "baseline", "data": "usps", "seed": seed, "passes": 23,
        "final": {"train": {"loss": 0.002, "error": train_err, "misses": round(train_err * 72.91)},
                  "test": {"loss": 0.035, "error": test_err, "misses": test_misses}},
        "wall_time_s": 100.0 + seed, "train_time_s": 90.0, "samples_per_s": 1500.0 + seed, "environment": ENV,
    }


def write(d, record, diverged=None):
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"seed: {record['seed']}\n")
    if diverged is None:
        write_metrics(RunDir(d), record)
    else:
        write_diverged(RunDir(d), record, diverged)


@pytest.fixture
def lecun_runs(tmp_path):
    root = tmp_path / "baseline"
    write(root / "s0", lecun_record(0, 0.40, 5.00, 100))
    write(root / "s1", lecun_record(1, 0.20, 6.00, 120))
    write(root / "s2", lecun_record(2, 0.30, 5.50, 110))
    # A diverged record that still carries an 82% error: it must never be averaged in.
    write(root / "s3", lecun_record(3, 82.0, 82.0, 1646), diverged=DIVERGED)
    # A record from before divergence was detected: "complete" with a NaN loss.
    legacy = root / "s4"
    legacy.mkdir()
    m = lecun_record(4, 80.0, 82.0, 1646)
    m["final"]["test"]["loss"] = float("nan")
    (legacy / "metrics.json").write_text(json.dumps({**m, "status": "complete"}))
    return root


def test_collect_lists_diverged_runs_apart_with_pass_and_step(lecun_runs):
    runs, skipped = collect([lecun_runs])
    assert sorted(runs["seed"]) == [0, 1, 2]
    reasons = {s.path.name: s.reason for s in skipped}
    assert reasons == {"s3": REASON,
                       "s4": "diverged (final test loss is nan, in a record written as complete)"}
    with pytest.raises(DivergedRun):
        read_metrics(lecun_runs / "s4")


def test_the_1989_report_never_averages_a_diverged_run(lecun_runs, tmp_path, capsys):
    out = tmp_path / "results"
    assert repro_main(["report", str(lecun_runs), "--out", str(out)]) == 0
    assert f"skipped {lecun_runs / 's3'}: {REASON}" in capsys.readouterr().out
    md = (out / "lecun1989" / "baseline.md").read_text()
    assert "| **ours** | USPS | 23 | 3 | 0.30 ± 0.10 | 5.50 ± 0.50 | 110.0 ± 10.0 |" in md
    assert "## Skipped records" in md and f"| s3 | `baseline` | {REASON} |" in md
    assert "82.00" not in md
    ours = pd.read_csv(out / "lecun1989" / "baseline.csv").iloc[0]
    assert ours["seeds"] == 3 and ours["test_error_mean"] == pytest.approx(5.5)


def test_a_folder_of_diverged_runs_only_still_reports_under_its_era(tmp_path):
    root = tmp_path / "sweep"
    write(root / "0_baseline_seed0", lecun_record(0, 82.0, 82.0, 1646), diverged=DIVERGED)
    out = tmp_path / "results"
    assert repro_main(["report", str(root), "--out", str(out)]) == 0
    md = (out / "lecun1989" / "sweep.md").read_text()
    assert f"| 0_baseline_seed0 | `baseline` | {REASON} |" in md


def alexnet_record(name, seed, table=None, val_error=30.0):
    return {
        "era": "alexnet2012", "name": name, "table": table, "data": "cifar10", "n_train": 50000, "n_test": 10000,
        "seed": seed, "passes": 15, "world_size": 1, "wall_time_s": 600.0, "samples_per_s": 350.0,
        "final": {"val": {"loss": 1.0, "error": val_error, "misses": int(val_error * 100), "top5_error": 2.5}},
        "environment": ENV,
    }


def test_repro_runs_lists_a_diverged_run_apart(tmp_path):
    runs = tmp_path / "runs"
    write(runs / "a", alexnet_record("alexnet_cifar10", 0))
    write(runs / "b", alexnet_record("alexnet_cifar10", 1, val_error=90.0), diverged=DIVERGED)
    frame, skipped = run_rows([runs])
    assert list(frame["seed"]) == [0] and [(s.path.name, s.reason) for s in skipped] == [("b", REASON)]
    assert repro_main(["runs", str(runs), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t.md").read_text()
    assert f"Skipped runs/b: {REASON}" in md or f"/b: {REASON}" in md
    assert "90.00" not in md


def test_the_2012_sweep_tables_list_diverged_runs_below_never_in_them(tmp_path):
    cc = tmp_path / "cudaconvnet_cifar10"
    write(cc / "0_layers-18pct_seed0", alexnet_record("layers-18pct", 0, table="cudaconvnet_cifar10"))
    write(cc / "1_layers-18pct_seed1", alexnet_record("layers-18pct", 1, "cudaconvnet_cifar10", 90.0),
          diverged=DIVERGED)
    write_cudaconvnet_table(cc, tmp_path / "cc")
    md = (tmp_path / "cc.md").read_text()
    assert f"Diverged, not in the table: 1_layers-18pct_seed1: {REASON}" in md and "90.00" not in md
    assert len(pd.read_csv(tmp_path / "cc.csv")) == 1

    fig = tmp_path / "figure1"
    write(fig / "0_relu_seed0", alexnet_record("relu", 0), diverged=DIVERGED)
    (fig / "0_relu_seed0" / "history.csv").write_text("pass,train_error\n1,80.0\n")
    write_figure1(fig, tmp_path / "fig")
    md = (tmp_path / "fig.md").read_text()
    assert f"Diverged, not in the table: 0_relu_seed0: {REASON}" in md and "No finished runs." in md

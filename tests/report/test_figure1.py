"""Figure 1 from run records: curves, epochs to 25% training error, the tanh/ReLU ratio."""

from __future__ import annotations

from repro.cli import main
from repro.train.record import RunDir, write_metrics


def run_record(path, name, train_errors):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("seed: 0\n")
    lines = ["pass,train_error,val_error"] + [f"{i},{e},{e + 5}" for i, e in enumerate(train_errors, 1)]
    (path / "history.csv").write_text("\n".join(lines) + "\n")
    write_metrics(RunDir(path), {
        "era": "alexnet2012", "name": name, "table": "figure1", "data": "cifar10", "n_train": 50000,
        "n_test": 10000, "seed": 0, "passes": len(train_errors), "world_size": 1,
        "final": {"val": {"loss": 1.0, "error": train_errors[-1] + 5, "misses": 1, "top5_error": 1.0},
                  "train": {"loss": 1.0, "error": train_errors[-1], "misses": 1, "top5_error": 1.0}},
        "wall_time_s": 120.0, "samples_per_s": 1000.0, "environment": {"hardware": "test cpu"},
    })


def test_figure1_table_and_plot(tmp_path):
    sweep = tmp_path / "alexnet2012" / "runs" / "figure1"
    run_record(sweep / "0_fig1-relu_seed0", "fig1-relu", [60, 24.9, 20, 15])
    run_record(sweep / "1_fig1-tanh_seed0", "fig1-tanh", [70, 60, 50, 45, 40, 35, 32, 30, 28, 27, 26, 25.0, 24])
    (sweep / "2_unfinished").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "none_lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 2
    (tmp_path / "none_lecun").mkdir()
    assert main(["report", str(tmp_path / "none_lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 0
    md = (out / "cifar10" / "figure1.md").read_text()
    assert "| fig1-relu | 4 | 2 | 15.00 | 20.00 | 2.0 | test cpu |" in md
    assert "| fig1-tanh | 13 | 12 |" in md
    assert "**tanh / ReLU epochs to 25%: 6.0** (paper: ~6)" in md
    assert (out / "cifar10" / "figure1.png").stat().st_size > 5000
    assert "cifar10/figure1.md" in (out / "REPORT.md").read_text()


def test_figure1_gives_a_lower_bound_when_tanh_never_reaches_25(tmp_path):
    sweep = tmp_path / "runs" / "figure1"
    run_record(sweep / "0_fig1-relu_seed0", "fig1-relu", [60, 40, 30, 24])
    run_record(sweep / "1_fig1-tanh_seed0", "fig1-tanh", [70, 60, 50, 45, 40, 35, 32, 30, 28, 27])
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 0
    md = (out / "cifar10" / "figure1.md").read_text()
    assert "**tanh / ReLU epochs to 25%: more than 2.5 (tanh still above 25% after 10 passes)**" in md
    assert "| fig1-tanh | 10 | — |" in md

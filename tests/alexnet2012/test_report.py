"""The 2012 era's report plug-in (alexnet2012.report) through `repro report`:
each sweep folder under the run-table roots becomes one table in
<out>/alexnet2012/: Figure 1 (curves, epochs to 25% training error, the
tanh/ReLU ratio), cuda-convnet's recipes beside its stated numbers, or the
generic per-run table."""

from __future__ import annotations

from repro.cli import main
from repro.train.record import RunDir, write_metrics


def run_record(path, name, train_errors, seed=0):
    path.mkdir(parents=True)
    # A Figure 1 run stops at 25% training error, so its seeds run different passes within one row.
    (path / "config.yaml").write_text(f"seed: {seed}\ntrainer: {{stop_split: train, stop_error: 25.0}}\n")
    lines = ["pass,train_error,val_error"] + [f"{i},{e},{e + 5}" for i, e in enumerate(train_errors, 1)]
    (path / "history.csv").write_text("\n".join(lines) + "\n")
    write_metrics(RunDir(path), {
        "era": "alexnet2012", "name": name, "table": "figure1", "data": "cifar10", "n_train": 50000,
        "n_test": 10000, "seed": seed, "passes": len(train_errors), "world_size": 1,
        "final": {"val": {"loss": 1.0, "error": train_errors[-1] + 5, "misses": 1, "top5_error": 1.0},
                  "train": {"loss": 1.0, "error": train_errors[-1], "misses": 1, "top5_error": 1.0}},
        "wall_time_s": 120.0, "samples_per_s": 1000.0, "environment": {"hardware": "test cpu"},
    })


def test_figure1_table_and_plot(tmp_path, capsys):
    sweep = tmp_path / "alexnet2012" / "runs" / "figure1"
    run_record(sweep / "0_fig1-relu_seed0", "fig1-relu", [60, 24.9, 20, 15])
    run_record(sweep / "1_fig1-tanh_seed0", "fig1-tanh", [70, 60, 50, 45, 40, 35, 32, 30, 28, 27, 26, 25.0, 24])
    (sweep / "2_unfinished").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "none_lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such run directory: {tmp_path / 'none_lecun'}"
    (tmp_path / "none_lecun").mkdir()
    assert main(["report", str(tmp_path / "none_lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "figure1.md").read_text()
    assert "| fig1-relu | x1 | — | 0 | 4 | 2 | 15.00 | 20.00 | 2.0 | test cpu |" in md
    assert "| fig1-tanh | x1 | — | 0 | 13 | 12 |" in md
    assert ("**one rate for both nets (x1): not the caption's protocol, which chose each net's rate: tanh / ReLU "
            "epochs to 25%: 6.0 (1 seed)** (paper: ~6)") in md
    assert "Rates not yet chosen per net" in md
    assert (out / "alexnet2012" / "figure1.png").stat().st_size > 5000
    index = (out / "REPORT.md").read_text()
    assert "[figure1.md](alexnet2012/figure1.md)" in index and "figure1](alexnet2012/figure1.png)" in index
    # One table per sweep: Figure 1's table replaces the per-run one, nothing goes elsewhere.
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["REPORT.md", "figure1.csv", "figure1.md",
                                                                     "figure1.png"]


def test_figure1_gives_a_lower_bound_when_tanh_never_reaches_25(tmp_path):
    sweep = tmp_path / "alexnet2012" / "runs" / "figure1"
    run_record(sweep / "0_fig1-relu_seed0", "fig1-relu", [60, 40, 30, 24])
    run_record(sweep / "1_fig1-tanh_seed0", "fig1-tanh", [70, 60, 50, 45, 40, 35, 32, 30, 28, 27])
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "figure1.md").read_text()
    assert "tanh / ReLU epochs to 25%: more than 2.5 (1 seed; tanh still above 25% after 10 passes)**" in md
    assert "| fig1-tanh | x1 | — | 0 | 10 | — |" in md


def test_figure1_over_seeds_is_the_mean_and_a_bound_where_a_seed_s_tanh_never_got_there(tmp_path):
    sweep = tmp_path / "alexnet2012" / "runs" / "figure1"
    run_record(sweep / "0_fig1-relu_seed0", "fig1-relu", [60, 24.9])
    run_record(sweep / "1_fig1-tanh_seed0", "fig1-tanh", [70] * 9 + [24.0])  # 10 / 2 = 5
    run_record(sweep / "more" / "0_fig1-relu_seed1", "fig1-relu", [60, 40, 30, 24.9], seed=1)
    run_record(sweep / "more" / "1_fig1-tanh_seed1", "fig1-tanh", [70] * 12, seed=1)  # > 12 / 4 = 3
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(sweep.parent), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "figure1.md").read_text()
    assert ("tanh / ReLU epochs to 25%: more than 4.0 (mean of 2 seeds, 3.0-5.0; tanh still above 25% after 12 "
            "passes in 1 of them, counted at that cap)** (paper: ~6)") in md
    assert "| 0 | 2 | 10 | 5.0 |" in md and "| 1 | 4 | not within 12 | more than 3.0 |" in md
    with_seed_1 = [r for r in (out / "alexnet2012" / "figure1.csv").read_text().splitlines() if ",1," in r]
    assert len(with_seed_1) == 2


def test_cudaconvnet_sweep_gets_a_table_beside_the_published_numbers(tmp_path, alexnet_record):
    runs = tmp_path / "alexnet2012" / "runs"
    for name, seed, err in (("layers-80sec", 0, 25.5), ("layers-18pct-shortened", 0, 21.0)):
        path = runs / "cc" / f"{seed}_{name}"
        alexnet_record(path, seed, {"val": {"loss": 1.0, "error": err, "misses": int(err * 100), "top5_error": 2.5}})
        m = (path / "metrics.json").read_text().replace('"alexnet_cifar10"', f'"{name}"')
        (path / "metrics.json").write_text(m.replace('"era"', '"table": "cudaconvnet_cifar10", "era"', 1))
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(runs), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "cc.md").read_text()
    assert "| layers-18pct-shortened | 0 | 15 | 21.00 | — | 18 | 10.0 | 20.0 | test cpu |" in md
    assert "| layers-80sec | 0 | 15 | 25.50 | — | 26 | 10.0 | 1.3 | test cpu |" in md
    # Two rows: the error plot (cuda-convnet's numbers as diamonds); no history in these records, so no curves.
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["REPORT.md", "cc.csv", "cc.md", "cc_error.png"]
    assert "](cc_error.png)" in md


def test_other_sweeps_get_the_generic_per_run_table(tmp_path, alexnet_record):
    runs = tmp_path / "alexnet2012" / "runs"
    alexnet_record(runs / "alexnet_cifar10" / "0_alexnet_cifar10_seed0", 0,
           {"val": {"loss": 1.0, "error": 30.25, "misses": 3025, "top5_error": 2.5}})
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(runs), "--out", str(out)]) == 0
    assert (out / "alexnet2012" / "alexnet_cifar10.md").read_text().startswith("# Runs under ")


def test_the_reporter_names_the_committed_sweeps():
    from alexnet2012.report import REPORTER

    assert REPORTER.era == "alexnet2012" and list(REPORTER.run_tables) == ["results/alexnet2012/runs"]
    assert not REPORTER.runs and REPORTER.experiment is None and REPORTER.plain is None


def _cudaconvnet_sweep(runs, n_tests, write_alexnet2012_record):
    for i, n_test in enumerate(n_tests):
        path = runs / "cc" / f"{i}_layers-80sec"
        write_alexnet2012_record(path, i, {"val": {"loss": 1.0, "error": 25.0, "misses": 5, "top5_error": 2.5}})
        m = (path / "metrics.json").read_text().replace('"alexnet_cifar10"', '"layers-80sec"')
        m = m.replace('"n_test": 10000', f'"n_test": {n_test}')
        (path / "metrics.json").write_text(m.replace('"era"', '"table": "cudaconvnet_cifar10", "era"', 1))


def test_the_cudaconvnet_heading_states_the_evaluated_count_from_the_records(tmp_path, alexnet_record):
    """data.n_val=500: the heading says 500 test images, not the full 10,000 (issue 37, item 6)."""
    runs = tmp_path / "alexnet2012" / "runs"
    _cudaconvnet_sweep(runs, [500, 500], alexnet_record)
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(runs), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "cc.md").read_text()
    assert "test error in % on 500 test images. " in md and "10,000" not in md


def test_the_cudaconvnet_heading_names_each_count_when_runs_differ(tmp_path, alexnet_record):
    runs = tmp_path / "alexnet2012" / "runs"
    _cudaconvnet_sweep(runs, [10000, 500], alexnet_record)
    (tmp_path / "lecun").mkdir()
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(runs), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "cc.md").read_text()
    assert "test error in % on the test images each run evaluated (500 or 10,000: column `test images`). " in md
    assert "| run | seed | passes | test images | test error |" in md

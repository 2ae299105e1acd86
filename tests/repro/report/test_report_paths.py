"""`repro report PATH` writes a sweep's report beside it (or under --out) and never touches
results/REPORT.md; without folders it regenerates results/ from every record under it, says which
folders it read and keeps every entry it can still find. Every sweep of more than one row gets
the error plot and the learning curves."""

from __future__ import annotations

import shutil

import pandas as pd

from repro.cli import main

from .conftest import sweep_job


def fake_results(root):
    """A results/ folder as committed: REPORT.md, a table, the records it was made from."""
    (root / "results" / "lecun1989").mkdir(parents=True)
    (root / "results" / "REPORT.md").write_text("committed index\n")
    sweep_job(root / "results" / "lecun1989" / "runs" / "baseline" / "0_baseline_seed0", 0, 5.0)
    return root / "results"


def test_a_sweep_folder_gets_its_report_beside_it(lr_sweep, tmp_path, monkeypatch, capsys):
    results = fake_results(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(lr_sweep)]) == 0
    out = capsys.readouterr().out
    report = lr_sweep / "report"
    stem = lr_sweep.name
    assert sorted(p.name for p in report.iterdir()) == sorted(
        f"{stem}{s}" for s in (".md", ".csv", "_error.png", "_curves.png"))
    assert f"wrote {report / (stem + '.md')}" in out
    assert (results / "REPORT.md").read_text() == "committed index\n"  # untouched
    assert sorted(p.name for p in (results / "lecun1989").iterdir()) == ["runs"]  # nothing written there
    md = (report / f"{stem}.md").read_text()
    assert "| source | optim.lr | data | passes | seeds |" in md
    assert "| **ours** | 0.01 | USPS | 2 | 2 | 29.00 ± 1.41 | 32.00 ± 2.83 |" in md
    assert "| **ours** | 0.1 | USPS | 2 | 2 | 3.50 ± 0.71 | 8.50 ± 0.71 |" in md
    assert "82.00" not in md
    assert "| 4_baseline_seed0 | `baseline optim.lr=1.0` | diverged at pass 1, step 5" in md
    assert "| 9_copy_of_2 | `baseline optim.lr=0.1` | duplicate of " in md
    csv = pd.read_csv(report / f"{stem}.csv")
    assert list(csv.columns[:3]) == ["source", "optim.lr", "data"]
    assert csv["seeds"].tolist()[:2] == [2, 2]


def test_a_folder_of_sweeps_reports_each_beside_itself(lr_sweep, tmp_path):
    other = lr_sweep.parent / "2026-11-30_09-00-00-000000"
    sweep_job(other / "0_baseline_seed0", 0, 5.0)
    assert main(["report", str(lr_sweep.parent)]) == 0
    assert (lr_sweep / "report" / f"{lr_sweep.name}_curves.png").is_file()
    # One row: a table, no plots.
    assert sorted(p.name for p in (other / "report").iterdir()) == [f"{other.name}.csv", f"{other.name}.md"]


def test_out_gets_the_tables_and_its_own_index(lr_sweep, tmp_path):
    out = tmp_path / "elsewhere"
    assert main(["report", str(lr_sweep), "--out", str(out)]) == 0
    assert (out / "lecun1989" / f"{lr_sweep.name}_error.png").is_file()
    assert f"[{lr_sweep.name}.md](lecun1989/{lr_sweep.name}.md)" in (out / "REPORT.md").read_text()
    assert not (lr_sweep / "report").exists()


def test_out_results_with_folders_leaves_report_md_alone(lr_sweep, tmp_path, monkeypatch, capsys):
    results = fake_results(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(lr_sweep), "--out", "results"]) == 0
    assert (results / "REPORT.md").read_text() == "committed index\n"
    assert "results/REPORT.md left as it is" in capsys.readouterr().out
    assert (results / "lecun1989" / f"{lr_sweep.name}.md").is_file()


def test_without_folders_everything_under_results_and_which_folders(tmp_path, monkeypatch, capsys):
    results = fake_results(tmp_path)
    # A runs folder no reporter names is read too, and a table whose records are gone stays linked.
    sweep_job(results / "extra" / "runs" / "mine" / "0_baseline_seed0", 0, 6.0)
    (results / "lecun1989" / "old_table.md").write_text("# made earlier\n")
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "read run records from:" in out
    assert "  results/lecun1989/runs: 1 folder(s): baseline" in out
    assert "  results/extra/runs: 1 folder(s): mine" in out
    index = (results / "REPORT.md").read_text()
    assert "[baseline.md](lecun1989/baseline.md) (table; CSV beside it)" in index
    assert "[mine.md](lecun1989/mine.md)" in index
    assert "[old_table.md](lecun1989/old_table.md) (kept from an earlier report" in index


def test_a_real_sweep_of_the_command(usps_root, tmp_path, capsys):
    """`lecun1989 -m optim.lr=0.01,0.1` (two jobs on small USPS files), then `repro report` on its folder."""
    import os
    import subprocess
    import sys

    sweep = tmp_path / "multirun" / "lecun1989" / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "lecun1989.cli", "-m", "optim.lr=0.01,0.1", "trainer.epochs=1",
         f"data.root={usps_root}", "data.verify=false", f"hydra.sweep.dir={sweep}"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert main(["report", str(sweep)]) == 0
    md = (sweep / "report" / "sweep.md").read_text()
    assert "| source | optim.lr |" in md and "| **ours** | 0.01 |" in md and "| **ours** | 0.1 |" in md
    assert (sweep / "report" / "sweep_error.png").is_file() and (sweep / "report" / "sweep_curves.png").is_file()
    shutil.rmtree(sweep / "report")


def test_an_alexnet_sweep_folder_gets_its_per_run_table_beside_it(tmp_path, alexnet_record, capsys):
    sweep = tmp_path / "multirun" / "alexnet2012" / "sweep"
    alexnet_record(sweep / "0_alexnet_cifar10_seed0", 0,
                   {"val": {"loss": 1.0, "error": 30.25, "misses": 3025, "top5_error": 2.5}})
    assert main(["report", str(sweep)]) == 0
    assert "| 30.25 | 2.50 |" in (sweep / "report" / "sweep.md").read_text()
    assert not (tmp_path / "REPORT.md").exists()


def test_duplicates_are_said_on_the_terminal(lr_sweep, capsys):
    assert main(["report", str(lr_sweep)]) == 0
    out = capsys.readouterr().out
    assert f"  not counted: {lr_sweep / '9_copy_of_2'}: duplicate of " in out


def test_without_folders_your_own_runs_are_named_not_read(tmp_path, monkeypatch, capsys):
    fake_results(tmp_path)
    sweep_job(tmp_path / "multirun" / "lecun1989" / "s" / "0_baseline_seed0", 0, 50.0)
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "  not read: multirun/ (your runs; report one sweep with `repro report multirun/<app>/<sweep>`)" in out
    assert "50.00" not in (tmp_path / "results" / "lecun1989" / "baseline.md").read_text()


def test_a_validation_split_is_reported_beside_train_and_test(tmp_path):
    import json

    sweep = tmp_path / "s"
    for i, (lr, val) in enumerate(((0.01, 31.0), (0.1, 7.0))):
        d = sweep_job(sweep / f"{i}_baseline_seed0", 0, 30.0 - i, overrides={"optim.lr": lr, "data.val_size": 1000})
        m = json.loads((d / "metrics.json").read_text())
        m["final"]["holdout"] = {"loss": 0.1, "error": val, "misses": int(val * 10)}
        (d / "metrics.json").write_text(json.dumps(m))
    assert main(["report", str(sweep)]) == 0
    md = (sweep / "report" / "s.md").read_text()
    assert "| seeds | train error % | holdout error % | test error % |" in md
    assert "| **ours** | 0.01 | USPS | 2 | 1 | 1.00 | 31.00 | 30.00 |" in md
    assert "| 0.1 | usps | 0 | 1.00 | 7.00 | 29.00 |" in md
    csv = pd.read_csv(sweep / "report" / "s.csv")
    assert csv["holdout_error_mean"].tolist()[:2] == [31.0, 7.0]


def test_a_regular_file_is_refused_in_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    """`repro report FILE` (issue 37, item 7): a file is not a folder of run records."""
    monkeypatch.chdir(tmp_path)
    record = sweep_job(tmp_path / "sweep" / "0_baseline_seed0", 0, 5.0) / "metrics.json"
    for args in (["report", str(record)], ["report", str(record), "--out", str(tmp_path / "out")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.splitlines() == [f"error: {record} is a file, not a folder of run records "
                                    "(give the folder that holds it: a run, a sweep or a folder of sweeps)"]
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.rglob("REPORT.md")) and not (tmp_path / "sweep" / "report").exists()


def test_a_folder_mixing_eras_sends_each_run_to_its_eras_table(tmp_path, monkeypatch, capsys, alexnet_record):
    """lecun1989 and alexnet2012 runs in one folder (issue 37, item 5): no valid AlexNet run is called
    malformed, each era writes its table, and the console counts the runs the tables used."""
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "mixed"
    sweep_job(sweep / "0_baseline_seed0", 0, 5.0)
    sweep_job(sweep / "1_baseline_seed1", 1, 6.0)
    val = {"val": {"loss": 1.0, "error": 30.25, "misses": 3025, "top5_error": 2.5}}
    alexnet_record(sweep / "2_alexnet_cifar10_seed0", 0, val)
    alexnet_record(sweep / "3_alexnet_cifar10_seed1", 1, val)
    assert main(["report", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "collected 4 finished run(s); skipped 0" in out and "malformed" not in out, out
    report = sweep / "report"
    assert "| **ours** | USPS | 2 | 2 |" in (report / "mixed.md").read_text()  # the 1989 runs only
    alexnet = (report / "mixed_alexnet2012.md").read_text()
    assert alexnet.count("alexnet_cifar10_seed") == 2 and "baseline_seed" not in alexnet


def test_an_alexnet_only_folder_counts_the_runs_its_table_lists(tmp_path, monkeypatch, capsys, alexnet_record):
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "alex"
    alexnet_record(sweep / "0_alexnet_cifar10_seed0", 0, {"val": {"loss": 1.0, "error": 30.0, "misses": 3000}})
    (sweep / "1_unfinished").mkdir()
    (sweep / "1_unfinished" / "config.yaml").write_text("seed: 1\n")
    assert main(["report", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "collected 1 finished run(s); skipped 1" in out and "malformed" not in out, out
    assert f"skipped {sweep / '1_unfinished'}: " in out
    assert (sweep / "report" / "alex.md").read_text().count("alexnet_cifar10_seed0") == 1

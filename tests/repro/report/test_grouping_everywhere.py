"""Issue 44, cause 3: every report groups runs by configuration as repro/report/rows.py does.

One hostile folder for each era: a row of two seeds, a short run of another configuration under
the same name and seed (dropped in, as into a copy of a committed sweep), and a copy of a counted
run (same configuration and seed). Every table, plot input, sweep summary and headline row must see
two rows, the short run a row of its own, the copy a duplicate: never a third seed, never a
replacement of the real run. Plus: runs without a usable history.csv are named where the curves
lack them, and a diverged run's label keeps the trick its command line selected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from repro.report.collect import collect, row_curves
from repro.report.rows import group_records, resolve
from repro.train.record import RunDir, read_record, write_diverged, write_metrics

from .conftest import sweep_job

# The 1989 era: `baseline` at 2 passes (seeds 0, 1) and a short run of it (1 pass, seed 0: other config).


@pytest.fixture
def hostile_1989(tmp_path) -> Path:
    sweep = tmp_path / "runs" / "baseline"
    sweep_job(sweep / "0_baseline_seed0", 0, 5.0)
    sweep_job(sweep / "1_baseline_seed1", 1, 7.0)
    sweep_job(sweep / "8_short_seed0", 0, 40.0, overrides={"trainer.epochs": 1})
    shutil.copytree(sweep / "0_baseline_seed0", sweep / "9_copy_of_0")
    return sweep


def _rows_of(frame: pd.DataFrame) -> dict[str, int]:
    return dict(zip(frame["row"], frame["seeds"]))


def test_resolve_and_the_helper_agree_two_rows_one_duplicate(hostile_1989):
    runs, skipped = resolve(*collect([hostile_1989]))
    assert sorted(runs.groupby("row")["seed"].apply(list).items()) == [
        ("baseline trainer.epochs=1", [0]),
        ("baseline trainer.epochs=2", [0, 1])]
    assert [s.path.name for s in skipped] == ["9_copy_of_0"] and skipped[0].reason.startswith("duplicate of ")
    rows, skipped = group_records((p, read_record(p)) for p in sorted(hostile_1989.iterdir()))
    assert [(r.label, r.seeds, [p.name for p in r.runs]) for r in rows] == [
        ("baseline trainer.epochs=1", (0,), ["8_short_seed0"]),
        ("baseline trainer.epochs=2", (0, 1), ["0_baseline_seed0", "1_baseline_seed1"])]
    assert [(d.name, k.name) for d, k in rows[1].duplicates] == [("9_copy_of_0", "0_baseline_seed0")]
    assert [s.path.name for s in skipped] == ["9_copy_of_0"]


def test_every_1989_table_and_the_sweep_summary_count_two_rows(hostile_1989, tmp_path):
    from lecun1989.report import STYLE
    from lecun1989.report.baseline import write_baseline
    from repro.report.experiment_table import write_experiment
    from repro.report.sweep_end import summary_lines

    runs, skipped = collect([hostile_1989])
    write_baseline(runs, skipped, tmp_path / "b")
    base = pd.read_csv(tmp_path / "b" / "baseline.csv")
    ours = base[base["source"] == "ours"]
    assert sorted(zip(ours["trainer.epochs"], ours["seeds"], ours["test_error_mean"])) == [(1, 1, 40.0), (2, 2, 6.0)]
    assert "9_copy_of_0" in (tmp_path / "b" / "baseline.md").read_text()  # listed as a duplicate
    write_experiment("hostile", runs.assign(table="hostile"), skipped, tmp_path / "e", STYLE)
    exp = pd.read_csv(tmp_path / "e" / "hostile.csv")
    assert sorted(zip(exp["trainer.epochs"], exp["seeds"], exp["test_error_mean"])) == [(1, 1, 40.0), (2, 2, 6.0)]
    lines = summary_lines(hostile_1989)
    assert lines[0].endswith("3 finished run(s) in 2 row(s)")
    table = {line.split()[1]: line.split() for line in lines[2:4]}
    assert table["trainer.epochs=2"][2] == "2" and table["trainer.epochs=2"][-1] == "1"  # 2 seeds, 1 duplicate
    assert table["trainer.epochs=1"][2] == "1" and table["trainer.epochs=1"][-1] == "0"


def test_the_per_run_table_lists_a_copy_as_a_duplicate(hostile_1989, tmp_path):
    from repro.cli import main

    assert main(["runs", str(hostile_1989), "--out", str(tmp_path / "t")]) == 0
    csv = pd.read_csv(tmp_path / "t.csv")
    assert sorted(Path(r).name for r in csv["run"]) == ["0_baseline_seed0", "1_baseline_seed1", "8_short_seed0"]
    md = (tmp_path / "t.md").read_text()
    assert "9_copy_of_0: duplicate of " in md


def test_the_1989_headline_takes_one_configuration(hostile_1989, tmp_path):
    """Plain baseline runs of the paper's setting (23 passes) with a short run of another config beside them."""
    from lecun1989.report.headline import paper_rows
    from repro.report.headline import headline
    from repro.report.reporter import reporters

    sweep = tmp_path / "h" / "baseline"
    for seed, err in ((0, 5.0), (1, 6.0)):
        sweep_job(sweep / f"{seed}_baseline_seed{seed}", seed, err, overrides={"trainer.epochs": 23})
    # The paper's schedule, another configuration (lr), seed 0: a row of its own, never a third seed.
    sweep_job(sweep / "7_lr_seed0", 0, 50.0, overrides={"trainer.epochs": 23, "optim.lr": 0.5})
    shutil.copytree(sweep / "0_baseline_seed0", sweep / "9_copy")
    for d in sweep.iterdir():  # records of the paper's setting say 23 passes
        m = json.loads((d / "metrics.json").read_text())
        (d / "metrics.json").write_text(json.dumps({**m, "passes": 23}))
    runs, _ = collect([sweep])
    text = headline({"lecun1989": reporters()["lecun1989"]}, runs, [], tmp_path / "out")
    assert "| LeCun 1989: test error % |" in text
    test_row = next(line for line in text.splitlines() if line.startswith("| LeCun 1989: test error % |"))
    assert "5.50 ± 0.71 (2 seeds)" in test_row


# The 2012 era: cuda-convnet's recipes, read by its own table and headline.


def _cc(path: Path, seed: int, err: float, *, epochs: int = 10, name: str = "layers-80sec") -> Path:
    path.mkdir(parents=True)
    config = {"name": name, "seed": seed, "table": "cudaconvnet_cifar10", "trainer": {"epochs": epochs}}
    (path / "config.yaml").write_text(json.dumps(config))
    (path / "history.csv").write_text("pass,val_error\n" + "".join(f"{p},{err + 10 / p}\n" for p in range(1, epochs + 1)))
    write_metrics(RunDir(path), {
        "era": "alexnet2012", "name": name, "table": "cudaconvnet_cifar10", "data": "cifar10", "n_train": 50000,
        "n_test": 10000, "seed": seed, "passes": epochs, "world_size": 1, "config": config,
        "final": {"val": {"loss": 1.0, "error": err, "misses": 1, "top5_error": 1.0}},
        "wall_time_s": 60.0, "samples_per_s": 1000.0, "environment": {"hardware": "test cpu"},
    })
    return path


@pytest.fixture
def hostile_2012(tmp_path) -> Path:
    cc = tmp_path / "runs" / "cudaconvnet_cifar10_cpu"
    _cc(cc / "0_layers-80sec_seed0", 0, 25.9)
    _cc(cc / "1_layers-80sec_seed1", 1, 26.1)
    _cc(cc / "7_layers-80sec_seed0", 0, 60.0, epochs=1)  # dropped in: another config, same name and seed
    shutil.copytree(cc / "0_layers-80sec_seed0", cc / "9_copy")
    return cc


def test_the_cudaconvnet_table_counts_rows_by_configuration(hostile_2012, tmp_path):
    from alexnet2012.report.cudaconvnet import write_cudaconvnet_table

    write_cudaconvnet_table(hostile_2012, tmp_path / "cc")
    csv = pd.read_csv(tmp_path / "cc.csv")
    assert sorted(zip(csv["run"], csv["seed"], csv["test_error"])) == [
        ("layers-80sec trainer.epochs=1", 0, 60.0), ("layers-80sec trainer.epochs=10", 0, 25.9),
        ("layers-80sec trainer.epochs=10", 1, 26.1)]
    md = (tmp_path / "cc.md").read_text()
    assert "Not counted: 9_copy (`layers-80sec trainer.epochs=10`): duplicate of " in md


def test_the_cudaconvnet_headline_is_not_changed_by_a_dropped_in_run(hostile_2012, tmp_path):
    from alexnet2012.report.headline import headline
    from repro.report.headline import HeadlineInput

    got = {r.number: r for r in headline(HeadlineInput(pd.DataFrame(), [hostile_2012], tmp_path)).rows}
    row = got["cuda-convnet `layers-80sec`: test error %"]
    assert row.values == (25.9, 26.1)  # the two seeds of the real row: not 60.0, not a third seed
    assert "not counted: `layers-80sec trainer.epochs=1`" in row.note


def test_runs_of_one_config_that_stop_at_a_target_are_one_row_whatever_their_passes(tmp_path):
    """trainer.stop_split: a seed's passes are where it reached the target, an outcome, not a config."""
    sweep = tmp_path / "s"
    for seed, passes in ((0, 3), (1, 5)):
        job = sweep_job(sweep / f"{seed}", seed, 5.0, overrides={"trainer.stop_split": "train", "trainer.stop_error": 25.0})
        m = json.loads((job / "metrics.json").read_text())
        (job / "metrics.json").write_text(json.dumps({**m, "passes": passes}))
    rows, skipped = group_records((p, read_record(p)) for p in sorted(sweep.iterdir()))
    assert [(r.label, r.seeds) for r in rows] == [("baseline", (0, 1))] and skipped == []
    runs, _ = resolve(*collect([sweep]))
    from repro.report.summary import summarise
    summary = summarise(runs)
    assert list(summary["seeds"]) == [2] and list(summary["passes"]) == [5]


# Curves: a run without a usable history.csv is said, with why, never silently missing.


@pytest.mark.parametrize("content,why", [(b"", "history.csv is empty"),
                                         (b"\x91\xfe\x00garbage\xff" * 20, "history.csv unreadable"),
                                         (b"a,b\n1,2\n", "history.csv is not a history"),
                                         (None, "no history.csv")])
def test_a_run_without_a_usable_history_is_named_by_the_report_and_its_tables(hostile_1989, tmp_path, capsys,
                                                                            content, why):
    from repro.cli import main

    hist = hostile_1989 / "8_short_seed0" / "history.csv"
    hist.unlink()
    if content is not None:
        hist.write_bytes(content)
    curves, left_out = row_curves({"short": [hist.parent], "base": [hostile_1989 / "0_baseline_seed0"]})
    assert curves["short"].empty and len(curves["base"]) == 2
    assert [(s.path.name, s.row) for s in left_out] == [("8_short_seed0", "short")] and why in left_out[0].reason
    assert main(["report", str(hostile_1989)]) == 0
    out = capsys.readouterr().out
    assert "; 1 without a usable history.csv (counted, but left out of the learning curves)" in out
    assert f"no learning curve from {hist.parent}: {why}" in out
    md = (hostile_1989 / "report" / "baseline.md").read_text()
    assert f"| 8_short_seed0 | `baseline trainer.epochs=1` | left out of the learning curves" in md and why in md
    assert main(["runs", str(hostile_1989), "--out", str(tmp_path / "t")]) == 0
    assert f"8_short_seed0: left out of the learning curves (its final numbers are counted): {why}" in \
        (tmp_path / "t.md").read_text()


def test_the_cudaconvnet_table_names_a_run_its_curves_lack(hostile_2012, tmp_path):
    from alexnet2012.report.cudaconvnet import write_cudaconvnet_table

    (hostile_2012 / "1_layers-80sec_seed1" / "history.csv").write_text("")
    write_cudaconvnet_table(hostile_2012, tmp_path / "cc")
    assert ("Not counted: 1_layers-80sec_seed1 (`layers-80sec trainer.epochs=10`): left out of the learning "
            "curves (its final numbers are counted): history.csv is empty") in (tmp_path / "cc.md").read_text()


# Labels: a config group set on the command line is part of every label, diverged runs' included.


def test_a_diverged_runs_label_keeps_the_trick_its_command_line_selected(tmp_path):
    sweep = tmp_path / "s"
    for i, (lr, diverged) in enumerate(((0.03, False), (10000.0, True))):
        job = sweep_job(sweep / f"{i}_baseline_seed0", 0, 9.0, overrides={"optim.lr": lr, "trick": {"relu": {}}},
                        diverged=diverged)
        (job / ".hydra").mkdir()
        (job / ".hydra" / "overrides.yaml").write_text(f"- trick=[relu]\n- optim.lr={lr}\n- data=usps\n")
    runs, skipped = resolve(*collect([sweep]))
    assert list(runs["row"]) == ["baseline optim.lr=0.03 data.name=usps trick=[relu]"]
    assert [s.row for s in skipped] == ["baseline optim.lr=10000.0 data.name=usps trick=[relu]"]
    rows, skipped = group_records((p, read_record(p)) for p in sorted(sweep.iterdir()))
    assert skipped[0].diverged and skipped[0].row == "baseline optim.lr=10000.0 data.name=usps trick=[relu]"

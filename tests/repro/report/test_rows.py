"""Rows keyed by everything that differs (repro.report.rows): an lr sweep is two rows, a width
sweep too, a copied run folder is a duplicate (never a seed), a diverged run is never averaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from repro.report.collect import collect
from repro.report.rows import flatten, resolve, row_config, settings_keys
from repro.report.summary import summarise
from repro.train.checkpoint import ADDED_KEYS

from .conftest import sweep_job


def test_an_lr_sweep_is_two_rows_with_lr_as_their_column(lr_sweep):
    runs, skipped = collect([lr_sweep])
    runs, skipped = resolve(runs, skipped)
    summary = summarise(runs).set_index("row")
    assert list(summary.index) == ["baseline optim.lr=0.01", "baseline optim.lr=0.1"]
    assert list(summary["settings"]) == [(("optim.lr", "0.01"),), (("optim.lr", "0.1"),)]
    assert list(summary["seeds"]) == [2, 2] and list(summary["runs"]) == [2, 2]
    assert summary.loc["baseline optim.lr=0.01", "test_error_mean"] == pytest.approx(32.0)
    assert summary.loc["baseline optim.lr=0.01", "test_error_sd"] == pytest.approx(2 ** 0.5 * 2)
    assert summary.loc["baseline optim.lr=0.1", "test_error_mean"] == pytest.approx(8.5)


def test_a_copied_run_folder_is_a_duplicate_never_a_seed(lr_sweep):
    runs, skipped = resolve(*collect([lr_sweep]))
    dup = [s for s in skipped if s.reason.startswith("duplicate")]
    assert [(s.path.name, s.row) for s in dup] == [("9_copy_of_2", "baseline optim.lr=0.1")]
    assert "duplicate of " in dup[0].reason and dup[0].reason.split(" (")[0].endswith("2_baseline_seed0")
    assert sorted(runs["run"].map(lambda r: r.rsplit("/", 1)[1])) == [
        "0_baseline_seed0", "1_baseline_seed1", "2_baseline_seed0", "3_baseline_seed1"]
    # Without resolving first, summarise still counts the copy once.
    raw, _ = collect([lr_sweep])
    assert len(raw) == 5 and list(summarise(raw)["runs"]) == [2, 2]


def test_the_earliest_finished_duplicate_is_kept_then_the_first_folder(tmp_path):
    sweep = tmp_path / "s"
    sweep_job(sweep / "b_rerun", 0, 7.0, finished_at="2026-11-29T09:00:00+00:00")
    sweep_job(sweep / "a_later", 0, 9.0, finished_at="2026-11-29T11:00:00+00:00")
    sweep_job(sweep / "c_copy_of_b", 0, 7.0, finished_at="2026-11-29T09:00:00+00:00")
    runs, skipped = resolve(*collect([sweep]))
    assert [r.rsplit("/", 1)[1] for r in runs["run"]] == ["b_rerun"]
    assert sorted(s.path.name for s in skipped) == ["a_later", "c_copy_of_b"]
    assert all(s.reason.startswith(f"duplicate of {sweep / 'b_rerun'}") for s in skipped)
    assert summarise(runs)["test_error_mean"].tolist() == [7.0]


def test_a_width_sweep_orders_its_rows_by_value(tmp_path):
    sweep = tmp_path / "w"
    for i, width in enumerate((16, 8, 12)):
        sweep_job(sweep / f"{i}_baseline_seed0", 0, 5.0 + i, overrides={"model.h1_maps": width})
    from repro.report.experiment_table import tables
    runs, _ = resolve(*collect([sweep]))
    summary, order = tables(runs, "no_such_experiment")
    assert order == ["baseline model.h1_maps=8", "baseline model.h1_maps=12", "baseline model.h1_maps=16"]
    assert list(summary["seeds"]) == [1, 1, 1]


def test_a_diverged_run_is_its_rows_never_averaged(lr_sweep):
    runs, skipped = resolve(*collect([lr_sweep]))
    diverged = [s for s in skipped if s.diverged]
    assert [(s.path.name, s.row) for s in diverged] == [("4_baseline_seed0", "baseline optim.lr=1.0")]
    assert diverged[0].reason == "diverged at pass 1, step 5 (the training loss is nan)"
    assert 82.0 not in set(runs["test_error"])
    # Its lr alone tells the rows apart: a sweep where only lr=1.0 differs still gets the column.
    only = lr_sweep.parent / "only"
    shutil.copytree(lr_sweep / "0_baseline_seed0", only / "a")
    shutil.copytree(lr_sweep / "4_baseline_seed0", only / "b")
    runs, skipped = resolve(*collect([only]))
    assert list(runs["row"]) == ["baseline optim.lr=0.01"] and skipped[0].row == "baseline optim.lr=1.0"


def test_run_identity_keys_never_split_a_row(tmp_path):
    sweep = tmp_path / "s"
    sweep_job(sweep / "a", 0, 5.0, overrides={"data.root": "/a", "trainer.progress": True, "resume": True})
    sweep_job(sweep / "b", 1, 6.0, overrides={"data.root": "/b", "logger.name": "tensorboard",
                                               "trainer.checkpoint_every_steps": 100})
    sweep_job(sweep / "c", 2, 7.0, overrides={"trainer.threads": 2})  # a speed setting is a row of its own
    runs, _ = resolve(*collect([sweep]))
    assert sorted(runs["row"]) == ["baseline trainer.threads=1", "baseline trainer.threads=1",
                                   "baseline trainer.threads=2"]
    assert list(summarise(runs)["seeds"]) == [2, 1]


def test_rows_named_by_their_row_config_need_no_columns():
    """Karpathy's table: rows differ in name, data and trick settings, all said by the row's name."""
    configs = [{"name": "baseline", "data.name": "usps"}, {"name": "baseline", "data.name": "usps"},
               {"name": "mnist_baseline", "data.name": "mnist16"},
               {"name": "adamw", "data.name": "usps", "trick.adamw.lr": "0.0003"}]
    assert settings_keys(configs, [c["name"] for c in configs]) == []
    configs.append({"name": "adamw", "data.name": "usps", "trick.adamw.lr": "0.001"})
    assert settings_keys(configs, [c["name"] for c in configs]) == ["trick.adamw.lr"]


def test_recipe_values_count_but_show_only_when_the_config_does_not_say():
    record = {"name": "b", "config": {"optim": {"lr": 0.1}, "seed": 3, "data": {"root": "/x"}, "trick": {"relu": {}}},
              "recipe": {"optim": {"lr": 0.1}, "model": {"lrn_alpha": 1e-4}}}
    flat = row_config(record)
    added = {k for k in flat if k.removeprefix("recipe.") in ADDED_KEYS}  # keys younger than some records
    assert {k: v for k, v in flat.items() if k not in added} == {
        "name": "b", "optim.lr": "0.1", "trick": "[relu]", "trick.relu": "{}", "recipe.model.lrn_alpha": "0.0001",
        "recipe.optim.lr": "0.1"}
    other = dict(flat, **{"optim.lr": "0.2", "recipe.optim.lr": "0.2"})
    assert settings_keys([flat, other], ["b", "b"]) == ["optim.lr"]
    changed_code = dict(flat, **{"recipe.model.lrn_alpha": "2e-05"})  # same config, other effective value
    assert settings_keys([flat, changed_code], ["b", "b"]) == ["recipe.model.lrn_alpha"]
    assert flatten({"a": [1, 2], "b": {"c": None}}) == {"a": "[1, 2]", "b.c": "null"}


def test_committed_karpathy_table_keeps_one_row_per_name():
    root = Path(__file__).resolve().parents[3] / "results" / "lecun1989" / "runs" / "karpathy_table"
    if not root.is_dir():
        pytest.skip("no committed karpathy_table records")
    runs, skipped = resolve(*collect([root]))
    summary = summarise(runs)
    assert not skipped and sorted(summary["row"]) == sorted(set(runs["name"]))
    assert set(summary["seeds"]) == {5} and len(summary) == 8  # the committed table: 5 seeds per row
    assert isinstance(summary, pd.DataFrame)


def test_a_record_without_config_is_keyed_by_its_passes_data_and_tricks(tmp_path):
    """Older records (config.yaml holds only the seed): a 1-pass smoke run is its own row, labelled by
    its passes only where that tells it from a row of the same name; other rows keep their names."""
    root = tmp_path / "t"
    sweep_job(root / "a", 0, 5.0, name="softmax_ce")
    sweep_job(root / "b", 0, 12.0, name="softmax_ce", overrides={"trainer.epochs": 1})
    sweep_job(root / "c", 0, 6.0)
    runs, _ = collect([root])
    for run in runs["run"]:  # as an old record: no config in it, a seed-only config.yaml
        m = json.loads((Path(run) / "metrics.json").read_text())
        m.pop("config")
        (Path(run) / "metrics.json").write_text(json.dumps(m))
        (Path(run) / "config.yaml").write_text(f"seed: {m['seed']}\n")
    runs, skipped = resolve(*collect([root]))
    assert not skipped
    assert sorted(runs["row"]) == ["baseline", "softmax_ce passes=1", "softmax_ce passes=2"]
    assert list(summarise(runs).sort_values("row")["test_error_mean"]) == [6.0, 12.0, 5.0]


def test_keys_added_to_the_configs_later_join_old_records_rows():
    # A record from before trainer.average / augment.rotate existed and one from after, with the
    # values their absence meant, are the same row; another value is another row.
    old = {"name": "all", "config": {"data": {"name": "usps"}, "trainer": {"epochs": 23}},
           "recipe": {"trainer": {"epochs": 23}}}
    new = {"name": "all", "config": {"data": {"name": "usps"}, "trainer": {"epochs": 23, "average": "none"},
                                     "augment": {"rotate": 0.0, "elastic_sigma": 2.0}},
           "recipe": {"trainer": {"epochs": 23, "average": "none"}, "augment": {"rotate": 0.0}}}
    assert row_config(old) == row_config(new)
    swa = json.loads(json.dumps(new))
    swa["config"]["trainer"]["average"] = swa["recipe"]["trainer"]["average"] = "swa"
    assert row_config(swa) != row_config(old)
    # trainer.eval_threads never makes a row (the outputs do not depend on it).
    threads = json.loads(json.dumps(new))
    threads["config"]["trainer"]["eval_threads"] = 1
    assert row_config(threads) == row_config(new)


def _with_overrides(folder: Path, *overrides: str) -> None:
    """The run's .hydra/overrides.yaml, as repro/app.py records the command line."""
    (folder / ".hydra").mkdir(exist_ok=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def test_a_key_set_on_the_command_line_is_a_setting_even_when_constant(tmp_path, monkeypatch, capsys):
    """Two sweeps that differ only in optim.lr, each constant within its sweep (issue 37, item 4): each
    table shows the rate it ran at, reported apart or together."""
    from repro.cli import main

    monkeypatch.chdir(tmp_path)
    sweeps = {}
    for lr in (0.01, 0.1):
        sweep = tmp_path / f"lr{lr}"
        for seed in (0, 1):
            job = sweep_job(sweep / f"{seed}_baseline_seed{seed}", seed, 5.0 + seed, overrides={"optim.lr": lr})
            # seed (run identity), the data root and Hydra's settings are never settings
            _with_overrides(job, f"optim.lr={lr}", f"seed={seed}", "data.root=/data", "hydra.launcher.n_jobs=2",
                            "+protocol=validation")
        sweeps[lr] = sweep
        runs, _ = resolve(*collect([sweep]))
        assert set(runs["settings"]) == {(("optim.lr", str(lr)),)} and set(runs["row"]) == {f"baseline optim.lr={lr}"}
    assert main(["report", str(sweeps[0.01]), str(sweeps[0.1])]) == 0
    for lr, sweep in sweeps.items():
        md = (sweep / "report" / f"{sweep.name}.md").read_text()
        assert "| source | optim.lr | data |" in md and f"| **ours** | {lr} | USPS |" in md


def test_a_run_without_test_digits_averages_no_test_misses(lr_sweep):
    """collect marks a validation run's missing test count -1; the mean must not turn that into "-1.0 misses"."""
    runs, skipped = resolve(*collect([lr_sweep]))
    summary = summarise(runs.assign(test_misses=-1)).set_index("row")
    assert summary["test_misses_mean"].isna().all()
    mixed = summarise(runs.assign(test_misses=[-1, 10, 20, 30][: len(runs)])).set_index("row")
    assert mixed["test_misses_mean"].dropna().tolist() != [] and (mixed["test_misses_mean"].dropna() >= 10).all()

"""trainer.stop_split / stop_error: a run ends after the first pass whose split error reaches the target."""

import csv

import pytest
import torch

from repro.train.loop import fit
from repro.train.record import RunDir, read_metrics

from .test_loop import CONFIG, make_task, trainer


def _history(path):
    return list(csv.DictReader((path / "history.csv").open()))


def _fit(tmp_path, name, task=None, **kw):
    return fit(task or make_task(), trainer(epochs=12, **kw), RunDir(tmp_path / name), seed=7, config=CONFIG,
               log=lambda s: None)


def test_stops_after_first_pass_at_or_below_target(tmp_path):
    full = _fit(tmp_path, "full")
    errors = [float(r["train_error"]) for r in _history(tmp_path / "full")]
    target = sorted(errors)[len(errors) // 2]  # reached part-way, not at pass 1 (the toy task keeps improving)
    first = next(i for i, e in enumerate(errors) if e <= target) + 1
    assert 1 < first < 12
    stopped = _fit(tmp_path, "stopped", stop_split="train", stop_error=target)
    rows = _history(tmp_path / "stopped")
    assert len(rows) == first and float(rows[-1]["train_error"]) <= target
    assert all(float(r["train_error"]) > target for r in rows[:-1])
    on_disk = read_metrics(tmp_path / "stopped")
    assert on_disk["status"] == "complete" and on_disk["passes"] == first
    assert on_disk["stopped_at_target"] == {"split": "train", "error": target, "pass": first}
    # The passes that ran are the same passes as in the uninterrupted run.
    assert [r["train_error"] for r in rows] == [r["train_error"] for r in _history(tmp_path / "full")[:first]]
    assert full["passes"] == 12 and "stopped_at_target" not in full


def test_final_only_splits_evaluated_on_the_stopping_pass(tmp_path):
    task = make_task()
    x, y = task.eval_sets["test"]
    task.final_eval_sets = {"final_view": (x, y)}
    _fit(tmp_path, "s", task=task, stop_split="train", stop_error=100.0)
    on_disk = read_metrics(tmp_path / "s")
    assert on_disk["passes"] == 1 and set(on_disk["final"]) == {"train", "test", "final_view"}


def test_unmet_target_trains_every_pass(tmp_path):
    _fit(tmp_path, "u", stop_split="train", stop_error=0.0)
    assert len(_history(tmp_path / "u")) == 12 and "stopped_at_target" not in read_metrics(tmp_path / "u")


def test_stop_error_must_be_a_percentage():
    with pytest.raises(ValueError, match="stop_error"):
        trainer(stop_split="train", stop_error=150.0).validate()

"""Stochastic weight averaging in the shared loop: the mean it keeps, what is evaluated and kept,
exact resume, and the models it refuses."""

import pytest
import torch
from torch import nn

from repro.train import averaging
from repro.train.evaluate import evaluate
from repro.train.loop import TrainingInterrupted
from repro.train.record import read_metrics

from .test_loop import interrupt_at, make_task, run, trainer

STEPS = 20  # ceil(96 / 5) steps per pass in test_loop's toy task


def test_update_is_the_running_mean():
    models = [nn.Linear(3, 2) for _ in range(4)]
    avg, count = None, 0
    for m in models:
        avg, count = averaging.update(avg, count, m)
    assert count == 4
    for name in ("weight", "bias"):
        want = torch.stack([getattr(m, name).detach() for m in models]).mean(0)
        torch.testing.assert_close(avg[name], want, rtol=1e-6, atol=1e-7)
    assert avg["weight"] is not models[0].weight  # a copy, not the first model's tensor


@pytest.mark.parametrize("epochs, start, first", [(23, 0.75, 18), (80, 0.75, 61), (4, 0.75, 4), (4, 0.0, 1), (1, 0.9, 1)])
def test_first_averaged_pass(epochs, start, first):
    assert averaging.first_averaged_pass(epochs, start) == first


def snapshots(at):
    """An on_step callback that keeps the task's weights at the given global steps."""
    kept = {}

    def make(task):
        def callback(global_step):
            if global_step in at:
                kept[global_step] = {k: v.detach().clone() for k, v in task.model.named_parameters()}
        return callback
    return kept, make


def test_a_swa_run_evaluates_and_keeps_the_mean_of_its_last_passes(tmp_path):
    # Passes 3 and 4 of 4 (start 0.5) are averaged; training itself is unchanged by averaging.
    plain_task, swa_task = make_task(), make_task()
    kept, make = snapshots({3 * STEPS, 4 * STEPS})
    run(tmp_path, "plain", trainer(epochs=4), task=plain_task, on_step=[make(plain_task)])
    metrics = run(tmp_path, "swa", trainer(epochs=4, average="swa", average_start=0.5), task=swa_task)
    ckpt = torch.load(tmp_path / "swa" / "checkpoint.pt", weights_only=True)
    # The raw weights train on exactly as without averaging.
    assert all(torch.equal(ckpt["model"][k], kept[4 * STEPS][k]) for k in kept[4 * STEPS])
    assert ckpt["state"]["averaged"] == 2
    mean = {k: (kept[3 * STEPS][k] + kept[4 * STEPS][k]) / 2 for k in kept[4 * STEPS]}
    for k, p in swa_task.model.named_parameters():  # the run's model is the average
        torch.testing.assert_close(p.detach(), mean[k], rtol=1e-6, atol=1e-7)
    x, y = swa_task.eval_sets["test"]
    res = evaluate(swa_task.model, x, y, nn.functional.cross_entropy, 2048)
    assert metrics["final"]["test"]["misses"] == res.misses
    assert metrics["final"]["test"]["loss"] == pytest.approx(res.loss, rel=1e-6)
    plain = read_metrics(tmp_path / "plain")
    assert metrics["final"]["test"]["loss"] != plain["final"]["test"]["loss"]  # the average, not the last weights


def test_a_swa_run_resumes_exactly(tmp_path):
    cfg = trainer(epochs=4, average="swa", average_start=0.25)
    whole = run(tmp_path, "whole", cfg)
    with pytest.raises(TrainingInterrupted):
        run(tmp_path, "cut", cfg, on_step=[interrupt_at(3 * STEPS + 7)])
    resumed = run(tmp_path, "cut", cfg, resume=True)
    assert resumed["final"] == whole["final"]
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["state"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["state"]
    assert a["averaged"] == b["averaged"] == 3
    assert all(torch.equal(a["average"][k], b["average"][k]) for k in a["average"])


def test_batchnorm_models_are_refused(tmp_path):
    task = make_task()
    task.model = nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.Linear(16, 4))
    task.optimizer = torch.optim.SGD(task.model.parameters(), lr=0.1)
    task.scheduler = None
    with pytest.raises(ValueError, match="BatchNorm"):
        run(tmp_path, "bn", trainer(average="swa"), task=task)
    assert not (tmp_path / "bn" / "metrics.json").exists()


@pytest.mark.parametrize("bad", [{"average": "ema"}, {"average_start": 1.0}, {"average_start": -0.1}])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError):
        trainer(**bad).validate()

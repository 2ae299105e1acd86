"""The shared loop: records, exact resume, interruption, determinism."""

import json
import os
import signal

import pytest
import torch
from torch import nn

from repro.train.loop import ResumeError, TrainerConfig, TrainingInterrupted, TrainTask, fit
from repro.train.order import epoch_order
from repro.train.record import RecordError, RunDir, read_metrics

N, D, C = 96, 12, 4
CONFIG = {"name": "toy", "seed": 0, "trainer": {"epochs": 3}}


def make_task(seed: int = 0, dropout: float = 0.3) -> TrainTask:
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(N + 40, D, generator=g)
    y = (x[:, :C].argmax(1) + (x[:, -1] > 1.5).long()) % C
    torch.manual_seed(seed)
    # Dropout makes the global RNG matter, so resume must restore it.
    model = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, C))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    return TrainTask(
        model=model,
        optimizer=opt,
        loss_fn=nn.functional.cross_entropy,
        train=(x[:N], y[:N]),
        eval_sets={"train": (x[:N], y[:N]), "test": (x[N:], y[N:])},
        scheduler=sched,
    )


def trainer(**kw) -> TrainerConfig:
    base = dict(epochs=3, batch_size=5, order="reshuffle", progress=False, threads=0)
    return TrainerConfig(**{**base, **kw})


def run(tmp_path, name, cfg=None, resume=False, on_step=(), task=None, config=CONFIG):
    return fit(task or make_task(), cfg or trainer(), RunDir(tmp_path / name), seed=7, config=config,
               resume=resume, log=lambda s: None, on_step=on_step)


def interrupt_at(step):
    def callback(global_step):
        if global_step == step:
            os.kill(os.getpid(), signal.SIGINT)
    return callback


def weights(path):
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


def assert_same_run(a_dir, b_dir):
    wa, wb = weights(a_dir), weights(b_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ma, mb = read_metrics(a_dir), read_metrics(b_dir)
    assert ma["final"] == mb["final"]
    strip = lambda p: [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in _rows(p)]
    assert strip(a_dir) == strip(b_dir)


def _rows(path):
    import csv
    return list(csv.DictReader((path / "history.csv").open()))


def test_complete_record(tmp_path):
    metrics = run(tmp_path, "a")
    d = tmp_path / "a"
    assert {p.name for p in d.iterdir()} >= {"metrics.json", "history.csv", "checkpoint.pt", "environment.json"}
    on_disk = json.loads((d / "metrics.json").read_text())
    assert on_disk["status"] == "complete" and on_disk["seed"] == 7 and on_disk["passes"] == 3
    assert set(on_disk["final"]) == {"train", "test"}
    assert isinstance(on_disk["final"]["test"]["misses"], int)
    assert on_disk["final"]["test"]["error"] == pytest.approx(100 * on_disk["final"]["test"]["misses"] / 40)
    assert on_disk["train_samples"] == 3 * N
    assert on_disk["environment"]["torch"] == torch.__version__
    assert on_disk["environment"]["git"]["commit"]
    rows = _rows(d)
    assert [int(r["pass"]) for r in rows] == [1, 2, 3]
    # The scheduler stepped once per pass: lr halves.
    assert [float(r["lr"]) for r in rows] == [0.05, 0.025, 0.0125]
    assert metrics["final"] == on_disk["final"]


def test_same_seed_same_run(tmp_path):
    run(tmp_path, "a")
    run(tmp_path, "b")
    assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("stop_step,every", [(40, 0), (13, 0), (31, 4)])
def test_interrupt_then_resume_is_bit_identical(tmp_path, stop_step, every):
    cfg = trainer(checkpoint_every_steps=every)
    run(tmp_path, "straight", cfg)
    with pytest.raises(TrainingInterrupted):
        run(tmp_path, "resumed", cfg, on_step=[interrupt_at(stop_step)])
    d = tmp_path / "resumed"
    # An interrupted run never looks finished.
    assert not (d / "metrics.json").exists()
    assert not RunDir(d).is_complete()
    with pytest.raises(RecordError, match="unfinished"):
        read_metrics(d)
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
    # Resume in a fresh task object, as a new process would.
    run(tmp_path, "resumed", cfg, resume=True, task=make_task(seed=99))
    assert_same_run(tmp_path / "straight", d)


def test_resume_refuses_a_different_config(tmp_path):
    with pytest.raises(TrainingInterrupted):
        run(tmp_path, "a", on_step=[interrupt_at(10)])
    other = {**CONFIG, "trainer": {"epochs": 4}}
    with pytest.raises(ResumeError, match=r"trainer.epochs: checkpoint 3 vs now 4"):
        run(tmp_path, "a", resume=True, config=other)
    # Only the progress bar and the resume flag itself may change.
    same = {**CONFIG, "resume": True, "trainer": {"epochs": 3, "progress": True}}
    run(tmp_path, "a", resume=True, config=same)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    run(tmp_path, "a")
    run(tmp_path, "b", resume=True)
    assert_same_run(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("mode", ["file", "shuffled_once", "reshuffle"])
def test_epoch_order(mode):
    a = [epoch_order(mode, 50, seed=3, epoch=e) for e in range(3)]
    b = [epoch_order(mode, 50, seed=3, epoch=e) for e in range(3)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert all(sorted(p.tolist()) == list(range(50)) for p in a)
    if mode == "file":
        assert a[0].tolist() == list(range(50))
    if mode == "shuffled_once":
        assert torch.equal(a[0], a[1]) and not torch.equal(a[0], torch.arange(50))
    if mode == "reshuffle":
        assert not torch.equal(a[0], a[1])
        assert not torch.equal(a[0], epoch_order(mode, 50, seed=4, epoch=0))


def test_trainer_config_validation():
    from repro.config import ConfigError, parse

    with pytest.raises(ConfigError, match="trainer.order"):
        parse(TrainerConfig, {"order": "random"}, "trainer")
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        parse(TrainerConfig, {"epochs": 0}, "trainer")
    with pytest.raises(ConfigError, match="trainer.batch_size: expected an integer"):
        parse(TrainerConfig, {"batch_size": 1.5}, "trainer")


def test_config_differences_see_a_trick_selected_without_parameters():
    from repro.train.checkpoint import config_differences

    saved = {"seed": 0, "trick": {}, "resume": False}
    assert config_differences(saved, {"seed": 0, "trick": {"relu": {}}, "resume": True}) == [
        "trick: checkpoint {} vs now '<absent>'",
        "trick.relu: checkpoint '<absent>' vs now {}",
    ]
    assert config_differences(saved, {**saved, "resume": True}) == []  # resume itself may differ

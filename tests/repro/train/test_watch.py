"""Watching a run (issue 19): `pass k/N` lines with pass time, elapsed and ETA
(repro/train/progress.py), and the `logger` group (repro/train/logger.py) read
back: csv in CI, TensorBoard's event file where tensorboard is installed."""

from __future__ import annotations

import csv
import io
import re
import sys

import pytest
import torch
from torch import nn

from repro.config import ConfigError
from repro.train.loop import TrainerConfig, TrainingInterrupted, TrainTask, fit
from repro.train.progress import RunProgress, clock
from repro.train.record import RunDir

N, D, C = 60, 8, 3


def make_task() -> TrainTask:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(N + 20, D, generator=g)
    y = x[:, :C].argmax(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    return TrainTask(model=model, optimizer=opt, loss_fn=nn.functional.cross_entropy, train=(x[:N], y[:N]),
                     eval_sets={"train": (x[:N], y[:N]), "test": (x[N:], y[N:])}, scheduler=sched)


def run(path, logger=None, epochs=3, resume=False, on_step=(), lines=None):
    config = {"name": "toy", "seed": 0, "trainer": {"epochs": epochs}, **({"logger": logger} if logger else {})}
    cfg = TrainerConfig(epochs=epochs, batch_size=4, order="reshuffle", progress=False, threads=0)
    log = (lambda s: lines.append(s)) if lines is not None else (lambda s: None)
    return fit(make_task(), cfg, RunDir(path), seed=1, config=config, resume=resume, log=log, on_step=on_step)


def test_every_pass_line_starts_with_pass_k_of_n_and_the_last_has_times_and_eta(tmp_path):
    lines: list[str] = []
    run(tmp_path / "r", lines=lines)
    assert [ln.split(" eval:")[0] for ln in lines if " eval:" in ln] == [f"pass {k}/3" for k in (1, 1, 2, 2, 3, 3)]
    summaries = [ln for ln in lines if " done in " in ln]
    assert len(summaries) == 3
    pattern = r"pass (\d)/3 done in \d+\.\d s, elapsed \d+:\d\d:\d\d(, ETA \d+:\d\d:\d\d)? \(lr ([0-9.e-]+), mean training loss"
    matches = [re.match(pattern, ln) for ln in summaries]
    assert all(matches), summaries
    assert [m.group(1) for m in matches] == ["1", "2", "3"]
    assert [bool(m.group(2)) for m in matches] == [True, True, False]  # no ETA after the last pass
    assert [float(m.group(3)) for m in matches] == [0.1, 0.05, 0.025]  # the rate each pass trained with


def test_clock_formats_durations():
    assert (clock(0), clock(425), clock(3600 * 25 + 62)) == ("0:00:00", "0:07:05", "1d 1:01:02")


def read_scalars(path):
    with open(path / "scalars.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_logger_records_the_loss_every_k_steps_and_each_pass(tmp_path):
    metrics = run(tmp_path / "r", logger={"name": "csv", "every_steps": 4})
    rows = read_scalars(tmp_path / "r")
    steps_per_pass = N // 4
    loss = [(int(r["step"]), int(r["pass"])) for r in rows if r["name"] == "train/loss"]
    assert loss == [(s, (s - 1) // steps_per_pass + 1) for s in range(4, 3 * steps_per_pass + 1, 4)]
    lr = {int(r["step"]): float(r["value"]) for r in rows if r["name"] == "lr"}
    assert lr[4] == 0.1 and lr[20] == 0.05 and lr[32] == 0.025  # the rate halves every pass
    # Each pass's history row, at the pass's last step; the last equals the record.
    test_error = [(int(r["step"]), float(r["value"])) for r in rows if r["name"] == "pass/test_error"]
    assert [s for s, _ in test_error] == [steps_per_pass * k for k in (1, 2, 3)]
    assert test_error[-1][1] == pytest.approx(metrics["final"]["test"]["error"])
    # A window of one whole pass is that pass's mean training loss, as history.csv has it.
    run(tmp_path / "p", logger={"name": "csv", "every_steps": steps_per_pass})
    per_pass = [float(r["value"]) for r in read_scalars(tmp_path / "p") if r["name"] == "train/loss"]
    history = [float(r["train_step_loss"]) for r in csv.DictReader(open(tmp_path / "p" / "history.csv"))]
    assert per_pass == pytest.approx(history, rel=1e-12) and len(history) == 3


def test_a_resumed_run_keeps_the_csv_up_to_its_checkpoint_with_no_duplicates(tmp_path):
    def stop(step):
        if step == 20:
            import os
            import signal
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        run(tmp_path / "r", logger={"name": "csv", "every_steps": 2}, on_step=[stop])
    run(tmp_path / "r", logger={"name": "csv", "every_steps": 2}, resume=True)
    run(tmp_path / "straight", logger={"name": "csv", "every_steps": 2})
    resumed, straight = read_scalars(tmp_path / "r"), read_scalars(tmp_path / "straight")
    key = lambda rows: [(r["step"], r["name"], r["value"]) for r in rows if not r["name"].endswith("_time_s")]  # noqa: E731
    assert key(resumed) == key(straight)


def test_a_bad_logger_value_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="logger"):
        run(tmp_path / "r", logger={"name": "wandb"})
    with pytest.raises(ConfigError, match="every_steps must be >= 1"):
        run(tmp_path / "s", logger={"name": "csv", "every_steps": 0})


def test_the_logger_does_not_change_what_is_trained(tmp_path):
    a = run(tmp_path / "a")
    b = run(tmp_path / "b", logger={"name": "csv", "every_steps": 3})
    assert a["final"] == b["final"]


def test_tensorboard_logger_writes_an_event_file_that_reads_back(tmp_path):
    pytest.importorskip("tensorboard", reason="optional dependency (pip install tensorboard); the csv logger "
                                              "tests above cover the same hook in CI")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics = run(tmp_path / "r", logger={"name": "tensorboard", "every_steps": 5})
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    events.Reload()
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(5, 3 * (N // 4) + 1, 5))
    assert [e.step for e in events.Scalars("pass/test_error")] == [15, 30, 45]
    assert events.Scalars("pass/test_error")[-1].value == pytest.approx(metrics["final"]["test"]["error"], rel=1e-6)
    assert events.Scalars("lr")[0].value == pytest.approx(0.1)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("stream, bar, shown", [(Terminal, True, True), (Pipe, True, False), (Terminal, False, False)])
def test_one_bar_for_the_whole_run_on_a_terminal_only(monkeypatch, tmp_path, stream, bar, shown):
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    lines: list[str] = []
    progress = RunProgress(epochs=3, samples_per_epoch=100, done=100, unit="ex", bar=bar, log=lines.append)
    for _ in range(4):
        progress.advance(50)
    progress.line(2, "eval: split test")
    progress.close()
    text = err.getvalue()
    assert ("run:" in text and "300/300" in text) is shown  # one bar over all passes, resumed at 100
    assert not shown or "100/300" in text
    assert lines == ["pass 3/3 eval: split test"]  # the lines are logged either way

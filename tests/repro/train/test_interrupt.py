"""Ctrl-C / SIGTERM: the interrupt pickles, the first signal says it was heard,
a second one never aborts a checkpoint save, and the resume commands."""

import os
import pickle
import signal
from pathlib import Path

import pytest
import torch
from torch import nn

import repro.train.loop as loop
from repro.cli_errors import EXIT_INTERRUPTED, JobInterrupted, report_user_errors, resume_sweep_command
from repro.train.interrupt import MESSAGE, SAVING_MESSAGE, StopFlag, TrainingInterrupted
from repro.train.loop import TrainerConfig, TrainTask, fit
from repro.train.record import RunDir

N, D, C = 60, 8, 3
CONFIG = {"name": "toy", "seed": 0, "trainer": {"epochs": 2}}


def make_task() -> TrainTask:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(N, D, generator=g)
    y = x[:, :C].argmax(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C))
    return TrainTask(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                     loss_fn=nn.functional.cross_entropy, train=(x, y), eval_sets={"test": (x, y)})


def train(path: Path, resume=False, on_step=()):
    cfg = TrainerConfig(epochs=2, batch_size=4, order="reshuffle", progress=False, threads=0)
    return fit(make_task(), cfg, RunDir(path), seed=3, config=CONFIG, resume=resume, log=lambda s: None,
               on_step=on_step)


def sigint_at(step):
    def callback(global_step):
        if global_step == step:
            os.kill(os.getpid(), signal.SIGINT)
    return callback


def weights(path: Path):
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


def test_a_pickled_interrupt_round_trips(tmp_path):
    exc = TrainingInterrupted(RunDir(tmp_path / "run"), 2, 17)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is TrainingInterrupted and isinstance(back, KeyboardInterrupt)
    assert str(back) == str(exc) == f"interrupted at pass 3, step 17; checkpoint saved in {tmp_path / 'run'}"
    assert (back.run.path, back.epoch, back.step) == (tmp_path / "run", 2, 17)
    # What a sweep job raises instead: an ordinary exception (Hydra's run_job records
    # it as the job's failure and the launcher waits for the others), and it pickles too.
    job = JobInterrupted(str(exc), tmp_path / "run", tmp_path)
    back = pickle.loads(pickle.dumps(job))
    assert type(back) is JobInterrupted and isinstance(back, Exception) and not isinstance(back, KeyboardInterrupt)
    assert (str(back), back.run_dir, back.sweep_dir) == (str(exc), tmp_path / "run", tmp_path)


def test_the_first_signal_says_it_was_heard(capfd):
    with StopFlag() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.set  # and no KeyboardInterrupt: the step goes on
    assert capfd.readouterr().err == f"\n{MESSAGE}\n"


def test_a_second_signal_during_the_save_waits_for_it(tmp_path, monkeypatch, capfd):
    real_save = loop.save_checkpoint
    stopping, signals_in_save = [], []

    def save_with_more_signals(*args):
        if stopping and not signals_in_save:
            signals_in_save.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C, mid-save
            os.kill(os.getpid(), signal.SIGTERM)  # and a SIGTERM
        return real_save(*args)

    def first_ctrl_c(global_step):
        if global_step == 7:
            stopping.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(loop, "save_checkpoint", save_with_more_signals)
    run_dir = tmp_path / "run"
    argv = ["seed=3", "resume=false", f"hydra.run.dir={run_dir}"]
    with pytest.raises(SystemExit) as exit_, report_user_errors(run_dir, argv):
        train(run_dir, on_step=[first_ctrl_c])
    assert exit_.value.code == EXIT_INTERRUPTED and signals_in_save == [1]
    err = capfd.readouterr().err
    assert MESSAGE in err and SAVING_MESSAGE in err and "Traceback" not in err
    assert f"interrupted: checkpoint saved in {run_dir}\nresume with: " in err
    assert err.rstrip().endswith(f"seed=3 resume=true hydra.run.dir={run_dir}")
    # The checkpoint is complete: resuming from it ends exactly where an uninterrupted run does.
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["state"]["global_step"] == 7
    train(run_dir, resume=True)
    train(tmp_path / "straight")
    for name, tensor in weights(tmp_path / "straight").items():
        assert torch.equal(tensor, weights(run_dir)[name]), name


def two_sigints_at(step):
    def callback(global_step):
        if global_step == step:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # before the step's checkpoint: stop at once
    return callback


def test_a_second_signal_before_the_save_stops_at_once_with_the_last_checkpoint(tmp_path, capfd):
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(run_dir, on_step=[sigint_at(5)])
    with pytest.raises(SystemExit) as exit_, report_user_errors(run_dir, ["x=1"]):
        train(run_dir, resume=True, on_step=[two_sigints_at(9)])
    assert exit_.value.code == EXIT_INTERRUPTED
    err = capfd.readouterr().err
    assert f"interrupted: stopped without saving the last steps; the last checkpoint is in {run_dir}" in err
    assert err.rstrip().endswith(f"x=1 resume=true hydra.run.dir={run_dir}") and "Traceback" not in err
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["state"]["global_step"] == 5


def test_a_second_signal_before_any_checkpoint_says_nothing_is_saved(tmp_path, capfd):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_, report_user_errors(run_dir, []):
        train(run_dir, on_step=[two_sigints_at(3)])
    assert exit_.value.code == EXIT_INTERRUPTED
    err = capfd.readouterr().err
    assert f"interrupted: stopped before the first checkpoint; nothing to resume in {run_dir}" in err
    assert "resume with" not in err and not (run_dir / "checkpoint.pt").exists()


def test_one_resume_command_for_a_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["/venv/bin/lecun1989"])
    argv = ["-m", "seed=0,1", "hydra/launcher=joblib", "resume=false", "hydra.sweep.dir=old", "data.root=/a b"]
    assert resume_sweep_command(argv, tmp_path) == (
        f"lecun1989 -m seed=0,1 hydra/launcher=joblib 'data.root=/a b' resume=true hydra.sweep.dir={tmp_path}")
    # Not known here (a worker died before any job reported): the user's folder, else a placeholder.
    assert resume_sweep_command(argv, None).endswith("'data.root=/a b' resume=true hydra.sweep.dir=old")
    assert resume_sweep_command(["--multirun", "seed=0,1"], None) == (
        "lecun1989 --multirun seed=0,1 resume=true hydra.sweep.dir=SWEEP_DIR  "
        "(SWEEP_DIR: the 'sweep output dir' logged above)")

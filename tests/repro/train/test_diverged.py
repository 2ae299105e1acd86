"""A run whose loss becomes non-finite ends "diverged": stopped, recorded as such in strict JSON,
its last good checkpoint kept, never overwritten nor continued, never read as a result."""

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from repro.train.evaluate import EvalResult
from repro.train.loop import ResumeError, TrainerConfig, TrainTask, fit
from repro.train.record import DivergedRun, RecordError, RunDir, read_metrics, read_record, record_json
from repro.train.run import claim_run

N, D, C = 60, 8, 3  # batch 5: 12 steps per pass
CONFIG = {"name": "toy", "seed": 0, "trainer": {"epochs": 3}}


def make_task(lr=0.05, eval_sets=None, finish=None) -> TrainTask:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g)
    y = x[:, :C].argmax(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, C))
    return TrainTask(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
        loss_fn=nn.functional.cross_entropy,
        train=(x, y),
        eval_sets=eval_sets if eval_sets is not None else {"train": (x, y)},
        finish=finish,
    )


def run(d, task, lines=None, on_step=(), **kw):
    cfg = TrainerConfig(**{"epochs": 3, "batch_size": 5, "progress": False, "threads": 0, **kw})
    return fit(task, cfg, RunDir(d), seed=1, config=CONFIG, log=(lines.append if lines is not None else lambda s: None),
               on_step=on_step)


def strict(path):
    def refuse(token):
        raise AssertionError(f"{path} holds {token}: not strict JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_a_huge_learning_rate_ends_diverged_in_strict_json_without_checkpoint_or_evaluation(tmp_path):
    d, lines, finished = tmp_path / "r", [], []
    metrics = run(d, make_task(lr=1e6, finish=lambda p: finished.append(p) or {}), lines)
    on_disk = strict(d / "metrics.json")
    assert on_disk["status"] == metrics["status"] == "diverged"
    div = on_disk["diverged"]
    assert div["pass"] == 1 and 1 <= div["step"] <= 12 and div["global_step"] == div["step"]
    assert div["loss"] is None and div["cause"] in ("the training loss is nan", "the training loss is inf")
    assert on_disk["final"] == {} and on_disk["passes_done"] == 0 and on_disk["passes"] == 3
    assert on_disk["train_samples"] == 5 * div["step"]
    # Diverged in pass 1: no checkpoint was ever good, none is written; the model is never evaluated.
    assert not (d / "checkpoint.pt").exists()
    assert not any(line.startswith("eval:") for line in lines)
    assert finished == []
    assert f"diverged at pass 1, step {div['step']} ({div['cause']}); the run stops here" in lines[-1]
    assert "no checkpoint" in lines[-1]
    strict(d / "environment.json")
    # Finished, but not a result.
    run_dir = RunDir(d)
    assert run_dir.is_finished() and not run_dir.is_complete()
    with pytest.raises(DivergedRun, match=rf"^diverged at pass 1, step {div['step']} \(the training loss is"):
        read_metrics(d)
    assert read_record(d) == on_disk


def test_divergence_in_a_later_pass_keeps_the_last_good_checkpoint_and_history(tmp_path):
    d, task = tmp_path / "r", make_task()

    def blow_up(global_step):  # pass 2, step 3: the next update explodes
        if global_step == 15:
            task.optimizer.param_groups[0]["lr"] = 1e9

    run(d, task, on_step=[blow_up])
    on_disk = strict(d / "metrics.json")
    assert on_disk["status"] == "diverged" and on_disk["diverged"]["pass"] == 2
    assert on_disk["diverged"]["step"] > 3 and on_disk["passes_done"] == 1
    ckpt = torch.load(d / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == 1 and ckpt["state"]["step_in_epoch"] == 0
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    assert (d / "history.csv").read_text().splitlines()[1].startswith("1,")
    assert len((d / "history.csv").read_text().splitlines()) == 2  # the header and pass 1


def test_a_non_finite_evaluation_loss_is_a_divergence_too(tmp_path):
    d, calls = tmp_path / "r", []

    def val(model):  # finite training, a NaN evaluation loss in pass 2
        calls.append(1)
        return EvalResult(loss=float("nan") if len(calls) == 2 else 0.5, error=50.0, misses=3, n=6)

    run(d, make_task(eval_sets={"val": val}))
    on_disk = strict(d / "metrics.json")
    assert on_disk["status"] == "diverged"
    assert {k: on_disk["diverged"][k] for k in ("pass", "step", "global_step", "cause")} == {
        "pass": 2, "step": 12, "global_step": 24, "cause": "the val loss is nan"}
    assert len(calls) == 2  # stopped: no pass 3
    assert torch.load(d / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    d, task = tmp_path / "r", make_task()

    def poison(global_step):  # the loss of this step was finite; the weights after it are not
        if global_step == 8:
            with torch.no_grad():
                task.model[2].bias[0] = float("inf")

    run(d, task, on_step=[poison], checkpoint_every_steps=4)
    on_disk = strict(d / "metrics.json")
    assert {k: on_disk["diverged"][k] for k in ("pass", "step", "cause")} == {
        "pass": 1, "step": 8, "cause": "a weight is not finite"}
    ckpt = torch.load(d / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["global_step"] == 4  # the last good one, from step 4


def test_a_diverged_run_is_never_overwritten_and_resume_reads_it_back(tmp_path):
    d = tmp_path / "r"
    run(d, make_task(lr=1e6))
    before = (d / "metrics.json").read_bytes()
    with pytest.raises(ResumeError, match="already holds a finished run"):
        with claim_run(d, CONFIG, resume=False):
            pass
    with claim_run(d, CONFIG, resume=True) as claimed:
        assert claimed.finished["status"] == "diverged"
    assert (d / "metrics.json").read_bytes() == before


def test_a_complete_record_is_strict_json_too(tmp_path):
    d = tmp_path / "r"
    metrics = run(d, make_task(), epochs=1)
    assert strict(d / "metrics.json")["status"] == metrics["status"] == "complete"
    assert read_metrics(d)["final"] == metrics["final"]


def test_record_json_turns_every_non_finite_number_into_null():
    obj = {"a": float("nan"), "b": [float("inf"), 1.5, (2, -math.inf)], "c": {"d": {"e": float("-inf")}}, "f": 3}
    assert json.loads(record_json(obj), parse_constant=lambda t: pytest.fail(t)) == {
        "a": None, "b": [None, 1.5, [2, None]], "c": {"d": {"e": None}}, "f": 3}


def test_an_unknown_status_is_not_finished(tmp_path):
    (tmp_path / "metrics.json").write_text('{"status": "running"}')
    with pytest.raises(RecordError, match="status is not 'complete'"):
        read_record(tmp_path)
    assert not RunDir(tmp_path).is_finished()


class ChunkStepper:
    """A stand-in for a fused backend: 5 steps per call, the sum of their losses; NaN from the second call."""

    def __init__(self):
        self.calls = 0

    def chunk_end(self, step, steps_per_epoch, global_step):
        return min(step + 5, steps_per_epoch)

    def __call__(self, xs, ys):
        self.calls += 1
        return float("nan") if self.calls == 2 else 0.5 * len(ys)


def test_a_chunked_stepper_that_cannot_tell_the_step_diverges_within_its_chunk(tmp_path):
    task = make_task()
    task.stepper = ChunkStepper()
    lines = []
    run(tmp_path / "r", task, lines)
    div = strict(tmp_path / "r" / "metrics.json")["diverged"]
    assert (div["pass"], div["first_step"], div["step"], div["global_step"]) == (1, 6, 10, 10)
    assert task.stepper.calls == 2
    assert any(line.startswith("diverged at pass 1, within steps 6–10 (the training loss is nan)") for line in lines)


class LocatingStepper(ChunkStepper):
    """A fused stepper that finds the step of its chunk whose loss first went non-finite (issue 37, item 11)."""

    first_non_finite = None

    def __call__(self, xs, ys):
        loss = super().__call__(xs, ys)
        self.first_non_finite = 7 if self.calls == 2 else None  # the pass's 2nd step of the chunk 6..10
        return loss


def test_a_chunked_stepper_that_tells_the_step_diverges_at_that_step(tmp_path):
    task = make_task()
    task.stepper = LocatingStepper()
    lines = []
    run(tmp_path / "r", task, lines)
    div = strict(tmp_path / "r" / "metrics.json")["diverged"]
    assert (div["pass"], div["step"], div["global_step"]) == (1, 7, 7) and "first_step" not in div
    assert any(line.startswith("diverged at pass 1, step 7 (the training loss is nan)") for line in lines)


def lecun1989(*args):
    return subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True, timeout=600)


def test_the_command_ends_a_nan_run_diverged_exit_0_and_never_trains_it_again(usps_root, tmp_path):
    d = tmp_path / "run"
    # Eager: the loss is checked after every step (a fused backend checks at its chunk's end, often the weights first).
    args = [f"data.root={usps_root}", "data.verify=false", "trick=[relu]", "optim.lr=1e30", "trainer.epochs=2",
            "trainer.backend=eager", "trainer.progress=false", f"hydra.run.dir={d}"]
    out = lecun1989(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    record = strict(d / "metrics.json")
    assert record["status"] == "diverged" and record["diverged"]["pass"] == 1
    line = f"diverged at pass 1, step {record['diverged']['step']} (the training loss is nan); the run stops here"
    assert line in out.stdout + out.stderr
    assert "eval:" not in out.stdout + out.stderr
    assert not (d / "checkpoint.pt").exists() and not (d / "model.pt").exists()
    before = (d / "metrics.json").read_bytes()
    again = lecun1989(*args)
    assert again.returncode != 0 and "already holds a finished run" in again.stderr
    resumed = lecun1989(*args, "resume=true")
    assert resumed.returncode == 0 and "diverged at pass 1" in resumed.stdout + resumed.stderr
    assert "nothing to resume" in resumed.stdout + resumed.stderr
    assert (d / "metrics.json").read_bytes() == before

"""The training loop every era shares: passes, evaluation, checkpoints, the run record.

The era hands over a `TrainTask` (task.py: *what* is trained); `fit` decides
*how*, in named steps: start or resume, one training pass, the end-of-pass
evaluation and scheduler step, a checkpoint, and the final metrics.

Training data comes as tensors held in memory (the digits) or as a
`BatchSource` that streams batches of the indices it is given (ImageNet from
JPEGs through DataLoader workers); either way the order is the loop's.
Under torchrun each process trains on its slice of every global batch through
DDP, and rank 0 alone writes the record (distributed.py).

Resume is exact (checkpoint.py): on CPU a resumed run ends bit-identical to an
uninterrupted one (tests/repro/train/test_loop.py).

A run whose loss becomes non-finite (a learning rate far too large, a bad
initialisation) stops there: the training loss is checked after every stepper
call (in one process; under torchrun after each pass's all-reduce), each
evaluation loss after it is computed, and the weights before every checkpoint.
No checkpoint of the diverged state is taken (the last good one stays), the
diverged model is not evaluated and the era's `finish` is not called;
metrics.json says "status": "diverged" with the pass and step
(tests/repro/train/test_diverged.py).

While it trains, a run shows a whole-run progress bar on a terminal and logs
`pass k/N ...` lines, the last of each pass with its time, the elapsed time and
the ETA (progress.py); the `logger` group (logger.py) records the training loss
every k steps and each pass's metrics for TensorBoard or a CSV file.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from . import averaging
from .checkpoint import ResumeError, load_checkpoint, save_checkpoint
from .distributed import World, all_reduce_sum, current_world, shard_order
from .environment import environment
from .evaluate import EvalResult, evaluate
from .interrupt import StopFlag, TrainingInterrupted, saving
from .logger import RunLogger, StepLog, logger_config, open_logger
from .order import epoch_order
from .progress import RunProgress
from .record import (RunDir, divergence_reason, diverged_record, write_diverged, write_history, write_metrics,
                     write_record_json)
from .steps import EagerStepper
from .task import BatchSource, Stepper, TrainerConfig, TrainTask


@dataclass
class _State:
    """Where a run stands; saved in every checkpoint."""

    epoch: int = 0  # passes completed
    step_in_epoch: int = 0
    global_step: int = 0
    running_loss: float = 0.0  # sum of per-step loss * batch size within the pass
    history: list[dict[str, Any]] = field(default_factory=list)
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    wall_time_s: float = 0.0
    samples: int = 0
    eval_keys: dict[str, list[str]] = field(default_factory=dict)  # split -> the metrics its evaluation gave
    average: dict[str, torch.Tensor] | None = None  # trainer.average=swa: the mean of the averaged passes' weights
    averaged: int = 0  # passes in that mean
    stopped: bool = False  # trainer.stop_split reached its target: no further pass


@dataclass
class _Run:
    """What stays fixed for the whole of one `fit` call."""

    task: TrainTask
    cfg: TrainerConfig
    run: RunDir
    config: Mapping[str, Any]
    world: World
    device: torch.device
    seed: int
    log: Callable[[str], None]
    n: int  # training examples per pass
    steps_per_epoch: int
    samples_per_epoch: int
    eval_sets: Mapping[str, Any]
    stepper: Stepper
    started: float  # perf_counter at this segment's start
    wall_before: float  # wall time of earlier segments (before a resume)
    progress: RunProgress
    steplog: StepLog

    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.started

    def checkpoint(self, state: _State, epoch: int, step: int) -> None:
        """Save a checkpoint, unless the weights are no longer finite (then the run diverged here)."""
        if not _weights_finite(self.task.model):
            raise _Diverged(epoch, step, state.global_step, "a weight")
        with saving():  # a signal during the save waits for it (interrupt.py)
            save_checkpoint(self.run, self.task, state, self.config, self.world)


class _Diverged(Exception):
    """The loss (or a weight) became non-finite during pass ``epoch`` (0-based), by step ``step`` of it."""

    def __init__(self, epoch: int, step: int, global_step: int, what: str, value: float | None = None,
                 first_step: int | None = None):
        cause = f"{what} is {value}" if value is not None else f"{what} is not finite"
        super().__init__(cause)
        self.entry = {"pass": epoch + 1, "step": step, "global_step": global_step, "loss": None, "cause": cause}
        if first_step is not None and first_step < step:  # somewhere in steps first_step..step (a chunk)
            self.entry["first_step"] = first_step


def _chunk_diverged(stepper, epoch: int, step: int, global_step: int, steps: int, value: float) -> _Diverged:
    """The divergence of a call that ran ``steps`` steps ending at ``step`` (of the pass): at the
    step whose loss (or a weight) first went non-finite where the stepper can tell (a fused
    stepper's `first_non_finite`, the pass's 1-based step), else within the call's steps."""
    first = getattr(stepper, "first_non_finite", None)
    what, value = ("the training loss", value) if not math.isfinite(value) else ("a weight", None)
    if isinstance(first, int) and step - steps < first <= step:
        return _Diverged(epoch, first, global_step - (step - first), what, value)
    return _Diverged(epoch, step, global_step, what, value, first_step=step - steps + 1)


def _weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def fit(
    task: TrainTask,
    cfg: TrainerConfig,
    run: RunDir,
    *,
    seed: int,
    config: Mapping[str, Any],
    resume: bool = False,
    meta: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
    on_step: Iterable[Callable[[int], None]] = (),
) -> dict[str, Any]:
    """Train ``task`` for ``cfg.epochs`` passes and write the run record into ``run``.

    Returns the final metrics (also written to ``metrics.json``). ``on_step``
    callbacks get the global step after each update (tests use them to
    simulate an interruption).
    """
    world = current_world()
    watch = logger_config(config)  # a bad logger value fails before anything is trained
    state = _start(task, run, config, seed, resume, world, log)
    env = environment(cfg.device)
    if world.is_main:
        write_record_json(run.environment, {**env, "world_size": world.size})
    logger = open_logger(watch, run.path, state.global_step if resume else None) if world.is_main else RunLogger()
    r = _prepare(task, cfg, run, config, world, seed, log, state, StepLog(logger, watch.every_steps))
    try:
        with StopFlag() as stop:
            for epoch in range(state.epoch, state.epoch if state.stopped else cfg.epochs):
                r.progress.start_pass()
                r.steplog.start_pass()
                _train_pass(r, state, epoch, stop, list(on_step))
                if cfg.average == "swa" and epoch + 1 >= averaging.first_averaged_pass(cfg.epochs, cfg.average_start):
                    state.average, state.averaged = averaging.update(state.average, state.averaged, task.model)
                row = _end_of_pass(r, state, epoch)
                state.history.append(row)
                state.epoch, state.step_in_epoch, state.running_loss = epoch + 1, 0, 0.0
                r.checkpoint(state, epoch, r.steps_per_epoch)
                if world.is_main:
                    write_history(run, state.history)
                    r.steplog.end_pass(row, state.global_step, epoch)
                    r.progress.end_pass(epoch, f"lr {row['lr']:.3g}, mean training loss {row['train_step_loss']:.4g}")
                if state.stopped:
                    r.log(f"{cfg.stop_split} error {row[f'{cfg.stop_split}_error']:.2f}% <= {cfg.stop_error:g}% "
                          f"after pass {epoch + 1}: trainer.stop_split target reached, no further pass")
                    break
    except _Diverged as diverged:
        return _record_divergence(r, state, diverged.entry, meta, env)
    finally:
        r.progress.close()
        r.steplog.close()
    if state.averaged:  # the run's model is the averaged one (its final metrics were evaluated on it)
        averaging.load_average(task.model, state.average)
    metrics = _final_metrics(r, state, meta, env)
    if world.is_main:
        metrics = write_metrics(run, metrics)
    return metrics


def _record_divergence(r: _Run, state: _State, entry: dict[str, Any], meta: Mapping[str, Any] | None,
                       env: Mapping[str, Any]) -> dict[str, Any]:
    """Write the record of a run that diverged: the history of its good passes and
    metrics.json with "status": "diverged"; the last good checkpoint stays as it was."""
    state.wall_time_s = r.wall()
    record = {**(meta or {}), **_summary(r, state, env), "final": {}, "passes_done": state.epoch}
    if not r.world.is_main:  # every rank returns the same answer; rank 0 writes it
        return diverged_record(record, entry)
    write_history(r.run, state.history)
    record = write_diverged(r.run, record, entry)
    kept = f"last good checkpoint kept: {r.run.checkpoint}" if r.run.checkpoint.exists() else "no checkpoint"
    r.log(f"{divergence_reason(entry)}; the run stops here, not evaluated ({kept}). "
          f"Record: {r.run.metrics} (status diverged)")
    return record


def _start(task: TrainTask, run: RunDir, config: Mapping[str, Any], seed: int, resume: bool, world: World,
           log: Callable[[str], None]) -> _State:
    """A fresh state, or the checkpoint's when resuming."""
    if resume and run.checkpoint.exists():
        state = _State(**load_checkpoint(run, task, config, world))
        log(f"resuming {run.path} at pass {state.epoch + 1}, step {state.step_in_epoch}")
        return state
    if resume:
        log(f"resume: no checkpoint in {run.path}; starting from scratch")
    # The global RNG drives dropout and augmentation; each process its own stream.
    torch.manual_seed(seed + 1_000_003 * world.rank)
    return _State()


def _prepare(task: TrainTask, cfg: TrainerConfig, run: RunDir, config: Mapping[str, Any], world: World, seed: int,
             log: Callable[[str], None], state: _State, steplog: StepLog) -> _Run:
    """Data on the device, the pass geometry, the stepper, what the run shows."""
    device = torch.device(cfg.device)
    if isinstance(task.train, BatchSource):
        n = task.train.n
    else:
        task.train = (task.train[0].to(device), task.train[1].to(device))
        n = task.train[0].shape[0]
    bs = cfg.batch_size
    # Every rank runs the same number of equal steps (see shard_order).
    steps_per_epoch = n // bs if world.distributed else math.ceil(n / bs)
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training examples make no full batch of {bs} across {world.size} processes")
    if task.stepper is not None and (isinstance(task.train, BatchSource) or world.distributed):
        raise ValueError("an era's own stepper (a fused backend) trains on in-memory data in one process")
    if cfg.average == "swa":
        averaging.check_model(task.model)
    eval_sets = {k: v if callable(v) else (v[0].to(device), v[1].to(device)) for k, v in task.eval_sets.items()}
    samples_per_epoch = steps_per_epoch * bs if world.distributed else n
    done = state.epoch * samples_per_epoch + min(state.step_in_epoch * bs, samples_per_epoch)
    return _Run(
        task=task, cfg=cfg, run=run, config=config, world=world, device=device, seed=seed, log=log, n=n,
        steps_per_epoch=steps_per_epoch,
        samples_per_epoch=samples_per_epoch,
        eval_sets=eval_sets,
        stepper=task.stepper or EagerStepper(task, _train_model(task, world), device, cfg.precision),
        started=time.perf_counter(),
        wall_before=state.wall_time_s,
        progress=RunProgress(cfg.epochs, samples_per_epoch, done, task.progress_unit, cfg.progress and world.is_main,
                             log, state.wall_time_s),
        steplog=steplog,
    )


def _train_model(task: TrainTask, world: World) -> nn.Module:
    """The module the training forward goes through: DDP (it all-reduces the
    gradients) and the era's wrapper; evaluation and checkpoints use the bare
    module, so records do not depend on either."""
    model = DistributedDataParallel(task.model) if world.distributed else task.model
    return task.wrap_train_model(model) if task.wrap_train_model is not None else model


def _batches(r: _Run, epoch: int, state: _State) -> Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]:
    """fetch(a, b): the examples of steps [a, b) of this pass, in the pass's order."""
    order, local_bs = shard_order(epoch_order(r.cfg.order, r.n, r.seed, epoch), r.cfg.batch_size, r.world)
    train = r.task.train
    if isinstance(train, BatchSource):
        stream = train.batches(order[state.step_in_epoch * local_bs :], local_bs)
        return lambda a, b: next(stream)  # one batch per step: only eager steppers stream
    order = order.to(r.device)
    xs, ys = train[0][order], train[1][order]
    return lambda a, b: (xs[a * local_bs : b * local_bs], ys[a * local_bs : b * local_bs])


def _train_pass(r: _Run, state: _State, epoch: int, stop: StopFlag, on_step: list[Callable[[int], None]]) -> None:
    """Train the rest of pass ``epoch``; checkpoint when asked to or interrupted."""
    cfg, bs = r.cfg, r.cfg.batch_size
    fetch = _batches(r, epoch, state)
    r.task.model.train()
    running = state.running_loss
    t0 = time.perf_counter()
    step = state.step_in_epoch
    while step < r.steps_per_epoch:
        end = r.stepper.chunk_end(step, r.steps_per_epoch, state.global_step)
        if r.steplog.active:  # a fused chunk ends where the logger wants a point, so it has one every k steps
            end = min(end, step + r.steplog.every - state.global_step % r.steplog.every)
        before_step = step
        loss = r.stepper(*fetch(step, end))
        running += loss
        done = min(end * bs, r.samples_per_epoch) - step * bs
        before = state.global_step
        state.global_step += end - step
        state.samples += done
        r.progress.advance(done)
        r.steplog.steps(before, state.global_step, loss, done, _lr(r.task), epoch)
        step = end
        # One process: a Python float, free to check. Under torchrun ranks see
        # different losses, so they agree on the all-reduced sum at the pass's end.
        # A stepper of several steps per call may also say a weight went non-finite (`first_non_finite`).
        if not r.world.distributed and (not math.isfinite(running) or getattr(r.stepper, "first_non_finite", None)):
            state.train_time_s += time.perf_counter() - t0
            value = loss if not math.isfinite(loss) else running
            raise _chunk_diverged(r.stepper, epoch, step, state.global_step, end - before_step, value)
        for callback in on_step:
            callback(state.global_step)
        every = cfg.checkpoint_every_steps
        if stop.set or (every and state.global_step % every == 0 and step != r.steps_per_epoch):
            state.step_in_epoch, state.running_loss = step, running
            state.train_time_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            state.wall_time_s = r.wall()
            r.checkpoint(state, epoch, step)
            if stop.set:
                raise TrainingInterrupted(r.run, epoch, step)
    state.train_time_s += time.perf_counter() - t0
    (state.running_loss,) = all_reduce_sum([running], r.device)
    if not math.isfinite(state.running_loss):
        raise _Diverged(epoch, step, state.global_step, "the training loss", state.running_loss)


def _target_reached(cfg: TrainerConfig, row: Mapping[str, Any]) -> bool:
    """trainer.stop_split's error this pass is at or below trainer.stop_error (not evaluated: no)."""
    key = f"{cfg.stop_split}_error"
    return bool(cfg.stop_split) and key in row and row[key] <= cfg.stop_error


def _evaluate(r: _Run, state: _State, epoch: int, last: bool, only_final: bool = False) -> dict[str, Any]:
    """Every evaluation split (and the final-only ones after the last pass), as history columns.
    A non-finite loss on any split is a divergence: no later split is evaluated."""
    task, t1 = r.task, time.perf_counter()
    with averaging.averaged_weights(task.model, state.average):
        columns = _evaluate_splits(r, state, epoch, last, t1, only_final)
    state.eval_time_s += time.perf_counter() - t1
    return columns


def _evaluate_splits(r: _Run, state: _State, epoch: int, last: bool, t1: float,
                     only_final: bool = False) -> dict[str, Any]:
    task = r.task
    columns: dict[str, Any] = {}
    splits = {**({} if only_final else r.eval_sets), **(task.final_eval_sets if last else {})}
    for split, data in splits.items():
        if callable(data):
            res: EvalResult = data(task.model)
        else:
            res = evaluate(task.model, data[0], data[1], task.loss_fn, r.cfg.eval_batch_size, task.predict)
        if r.world.is_main:
            r.progress.line(epoch, res.line(split))
        if not math.isfinite(res.loss):
            state.eval_time_s += time.perf_counter() - t1
            raise _Diverged(epoch, r.steps_per_epoch, state.global_step, f"the {split} loss", res.loss)
        metrics = {k: v for k, v in res.as_dict().items() if k != "n"}
        state.eval_keys[split] = list(metrics)
        columns.update({f"{split}_{k}": v for k, v in metrics.items()})
    return columns


def _end_of_pass(r: _Run, state: _State, epoch: int) -> dict[str, Any]:
    """The pass's history row: its rate and loss, evaluation, the era's counters; then the scheduler step."""
    task, last = r.task, epoch + 1 == r.cfg.epochs
    lr = _lr(task)
    row: dict[str, Any] = {"pass": epoch + 1, "lr": lr, "train_step_loss": state.running_loss / r.samples_per_epoch}
    if (epoch + 1) % r.cfg.eval_every == 0 or last:
        row.update(_evaluate(r, state, epoch, last))
    if not last and _target_reached(r.cfg, row):
        state.stopped = True  # this pass is the run's last: the final-only splits are evaluated now
        row.update(_evaluate(r, state, epoch, True, only_final=True))
    if task.counters is not None:
        counts = dict(task.counters())
        row.update(zip(counts, all_reduce_sum(list(counts.values()), r.device)))
    if task.scheduler is not None:
        with warnings.catch_warnings():
            # A fused stepper updates the optimizer's tensors without optimizer.step(), which torch
            # takes for a scheduler stepped first; the order here is right (after the pass).
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            if task.scheduler_metric is None:
                task.scheduler.step()
            elif task.scheduler_metric in row:
                task.scheduler.step(row[task.scheduler_metric])
    state.wall_time_s = r.wall()
    row.update({"train_time_s": state.train_time_s, "wall_time_s": state.wall_time_s})
    return row


def _lr(task: TrainTask) -> float:
    return float(task.optimizer.param_groups[0]["lr"])


def _final_metrics(r: _Run, state: _State, meta: Mapping[str, Any] | None, env: Mapping[str, Any]) -> dict[str, Any]:
    final = {split: {k: state.history[-1][f"{split}_{k}"] for k in keys} for split, keys in state.eval_keys.items()}
    extra = dict(r.task.finish(r.run.path)) if r.task.finish is not None and r.world.is_main else {}
    # The last pass's mean training loss: a sweep's objective where there is no validation split (repro/app.py).
    return {**(meta or {}), **extra, **_summary(r, state, env), "final": final,
            "final_train_step_loss": state.history[-1]["train_step_loss"]}


def _summary(r: _Run, state: _State, env: Mapping[str, Any]) -> dict[str, Any]:
    """What every record says, complete or diverged: seed, counts, times, environment, config."""
    return {
        "seed": r.seed,
        "passes": state.epoch if state.stopped else r.cfg.epochs,
        **({"stopped_at_target": {"split": r.cfg.stop_split, "error": r.cfg.stop_error, "pass": state.epoch}}
           if state.stopped else {}),
        "train_samples": state.samples,
        "train_time_s": state.train_time_s,
        "eval_time_s": state.eval_time_s,
        "wall_time_s": state.wall_time_s,
        "samples_per_s": state.samples / state.train_time_s if state.train_time_s > 0 else None,
        "world_size": r.world.size,
        "environment": dict(env),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": dict(r.config),
    }


__all__ = ["BatchSource", "EvalResult", "ResumeError", "TrainTask", "TrainerConfig", "TrainingInterrupted", "fit"]

"""The training loop every era shares.

The era decides *what* is trained (a `TrainTask`: model, loss, optimizer,
data); this module decides *how*: sample order, the per-pass evaluation,
checkpoints, resume, interruption, data parallelism and the run record.

Training data comes as tensors held in memory (the digits) or as a
`BatchSource` that streams batches of the indices it is given (ImageNet from
JPEGs through DataLoader workers); either way the order is the loop's.
Under torchrun each process trains on its slice of every global batch through
DDP, and rank 0 alone writes the record (repro/train/distributed.py).

Resume is exact: a checkpoint holds the model, optimizer and scheduler state,
the global RNG state, the position inside the pass and the running sums, and
the sample order is a pure function of (seed, pass). On CPU a resumed run ends
bit-identical to an uninterrupted one (tests/train/test_resume.py).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .atomic import save_torch_atomic, write_json_atomic
from .distributed import World, all_reduce_sum, current_world, gather_objects, shard_order
from .environment import environment
from .evaluate import EvalResult, Evaluator, evaluate
from .order import epoch_order
from .record import RunDir, write_history, write_metrics

CHECKPOINT_FORMAT = 1
# Keys that may differ between the interrupted run and its resumption.
RESUME_IGNORED = frozenset({"resume", "trainer.progress"})


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 23  # the paper's "passes through the training set"
    batch_size: int = 1  # 1 = per-example SGD, as in 1989
    order: Literal["file", "shuffled_once", "reshuffle"] = "file"
    eval_every: int = 1  # evaluate every k passes (the last pass always)
    eval_batch_size: int = 2048
    checkpoint_every_steps: int = 0  # 0 = only at the end of each pass
    threads: int = 1  # torch CPU threads; 0 keeps torch's default
    progress: bool = True
    device: str = "cpu"
    # How the training steps run. "eager": one PyTorch forward/backward/step per
    # batch (the reference). Anything else names a fused implementation the era
    # supplies as TrainTask.fused_steps (lecun1989: fused_cpu, cuda_persistent).
    backend: str = "eager"
    # Fused backends run this many steps per call (0 = up to the next checkpoint
    # or the end of the pass). Interrupts and progress are handled between calls.
    fused_chunk_steps: int = 0
    # "bf16": forward and loss under torch.autocast in bfloat16, weights and
    # updates in float32 (mixed precision, Micikevicius et al. 2018). Eager only.
    precision: Literal["fp32", "bf16"] = "fp32"
    # Speed switches of the eager backend (the 2012 era's tricks channels_last
    # and torch_compile): the model's 4-D weights and every 4-D training batch in
    # NHWC memory order; the training forward through torch.compile (evaluation
    # and checkpoints use the plain module, so records do not depend on it).
    channels_last: bool = False
    compile: bool = False
    # A cap on passes applied after every trick (0 = none): quick looks and
    # smoke sweeps (`trainer.max_epochs=1`) without editing each row's recipe.
    max_epochs: int = 0

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.eval_every < 1:
            raise ValueError("eval_every must be >= 1")
        if self.checkpoint_every_steps < 0:
            raise ValueError("checkpoint_every_steps must be >= 0")
        if self.threads < 0:
            raise ValueError("threads must be >= 0")
        if self.fused_chunk_steps < 0:
            raise ValueError("fused_chunk_steps must be >= 0")
        if self.max_epochs < 0:
            raise ValueError("max_epochs must be >= 0")


@dataclass(frozen=True)
class BatchSource:
    """Training data the loop does not hold in memory: ``batches(indices,
    batch_size)`` yields (inputs, labels) for consecutive slices of
    ``indices`` in exactly that order (the loop passes what remains of the
    pass, so a resumed run continues where it stopped)."""

    n: int  # examples per pass
    batches: Callable[[torch.Tensor, int], Iterator[tuple[torch.Tensor, torch.Tensor]]]


@dataclass
class TrainTask:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, labels) -> mean loss
    train_x: torch.Tensor | None
    train_y: torch.Tensor | None
    # Per split: tensors (x, y) evaluated by `evaluate`, or the era's own Evaluator.
    eval_sets: Mapping[str, tuple[torch.Tensor, torch.Tensor] | Evaluator]
    scheduler: Any | None = None  # an LR scheduler stepped once per pass
    # The history column a ReduceLROnPlateau-style scheduler steps on (e.g.
    # "val_error"); None = scheduler.step() with no argument.
    scheduler_metric: str | None = None
    # Streams the training data instead of train_x/train_y.
    train_source: BatchSource | None = None
    progress_unit: str = "ex"  # the progress bar shows <unit>/s
    # Evaluated after the last pass only (AlexNet's 10-crop testing: ten
    # forward passes per image are too dear for every pass).
    final_eval_sets: Mapping[str, Evaluator] = field(default_factory=dict)
    # Running totals the era keeps (images skipped as unreadable...), summed
    # over processes into each pass's history row and the final metrics.
    counters: Callable[[], Mapping[str, float]] | None = None
    batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # training-time augmentation
    predict: Callable[[torch.Tensor], torch.Tensor] = field(default=lambda out: out.argmax(1))
    # A fused implementation of batch-size-1 training: runs one update per
    # example of (xs, ys) in order, in place on the model's parameters, and
    # returns the sum of the per-example losses. None = the eager loop.
    fused_steps: Callable[[torch.Tensor, torch.Tensor], float] | None = None
    # Called once after the last pass, before metrics.json is written, with the
    # run directory: the era saves what its reports need (final weights,
    # misclassified examples) and returns entries to add to the metrics.
    finish: Callable[[Path], Mapping[str, Any]] | None = None


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after a clean checkpoint when SIGINT/SIGTERM stopped training."""

    def __init__(self, run: RunDir, epoch: int, step: int):
        super().__init__(f"interrupted at pass {epoch + 1}, step {step}; checkpoint saved in {run.path}")
        self.run = run


class ResumeError(RuntimeError):
    pass


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    a, b = flatten(saved), flatten(current)
    keys = sorted((set(a) | set(b)) - RESUME_IGNORED)
    return [f"{k}: checkpoint {a.get(k, '<absent>')!r} vs now {b.get(k, '<absent>')!r}" for k in keys if a.get(k) != b.get(k)]


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between steps, so a checkpoint
    is never taken in the middle of an optimizer update. A second signal
    interrupts at once."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):  # noqa: ARG002
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass
class _State:
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


def _rng_states() -> dict[str, Any]:
    return {
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _save_checkpoint(run: RunDir, task: TrainTask, state: _State, config: Mapping[str, Any], world: World) -> None:
    # Every rank's RNG (dropout, augmentation draws) so a resumed data-parallel
    # run continues each process's stream; the rest is identical on all ranks.
    rngs = gather_objects(_rng_states())
    if not world.is_main:
        return
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model": task.model.state_dict(),
        "optimizer": task.optimizer.state_dict(),
        "scheduler": task.scheduler.state_dict() if task.scheduler is not None else None,
        **rngs[0],
        "rng_per_rank": rngs if world.distributed else None,
        "world_size": world.size,
        "state": state.__dict__.copy(),
        "config": dict(config),
    }
    save_torch_atomic(run.checkpoint, ckpt)


def _load_checkpoint(run: RunDir, task: TrainTask, config: Mapping[str, Any], world: World) -> _State:
    try:
        ckpt = torch.load(run.checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem for the user
        raise ResumeError(f"cannot read checkpoint {run.checkpoint}: {exc}") from exc
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ResumeError(f"{run.checkpoint}: checkpoint format {ckpt.get('format')} is not {CHECKPOINT_FORMAT}")
    diffs = config_differences(ckpt["config"], config)
    if diffs:
        raise ResumeError(
            f"cannot resume {run.path}: the config differs from the checkpoint's:\n  " + "\n  ".join(diffs)
        )
    saved_world = ckpt.get("world_size", 1)
    if saved_world != world.size:
        raise ResumeError(
            f"cannot resume {run.path}: it was trained by {saved_world} process(es), this launch has {world.size}; "
            "relaunch with the same number (torchrun --nproc_per_node) so data order and RNG streams continue exactly"
        )
    task.model.load_state_dict(ckpt["model"])
    task.optimizer.load_state_dict(ckpt["optimizer"])
    if task.scheduler is not None and ckpt["scheduler"] is not None:
        task.scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt["rng_per_rank"][world.rank] if ckpt.get("rng_per_rank") else ckpt
    torch.set_rng_state(rng["rng"])
    if rng["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda_rng"])
    return _State(**ckpt["state"])


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


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
    device = torch.device(cfg.device)
    state = _State()
    if resume and run.checkpoint.exists():
        state = _load_checkpoint(run, task, config, world)
        log(f"resuming {run.path} at pass {state.epoch + 1}, step {state.step_in_epoch}")
    else:
        if resume:
            log(f"resume: no checkpoint in {run.path}; starting from scratch")
        # The global RNG drives dropout and augmentation; each process its own stream.
        torch.manual_seed(seed + 1_000_003 * world.rank)

    env = environment(cfg.device)
    if world.is_main:
        write_json_atomic(run.environment, {**env, "world_size": world.size})
    source = task.train_source
    if source is None:
        train_x, train_y = task.train_x.to(device), task.train_y.to(device)
        n = train_x.shape[0]
    else:
        n = source.n
    eval_sets = {
        k: v if callable(v) else (v[0].to(device), v[1].to(device)) for k, v in task.eval_sets.items()
    }
    bs = cfg.batch_size
    # Every rank runs the same number of equal steps (see shard_order).
    steps_per_epoch = n // bs if world.distributed else math.ceil(n / bs)
    samples_per_epoch = steps_per_epoch * bs if world.distributed else n
    callbacks = list(on_step)
    fused = task.fused_steps is not None
    if fused and bs != 1:
        raise ValueError(f"a fused backend runs per-example steps; trainer.batch_size must be 1, not {bs}")
    if fused and (cfg.precision != "fp32" or cfg.channels_last or cfg.compile):
        raise ValueError("trainer.precision, channels_last and compile apply to the eager backend only")
    if fused and (source is not None or world.distributed):
        raise ValueError("a fused backend trains on in-memory data in one process")
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training examples make no full batch of {bs} across {world.size} processes")
    # Forward through DDP while training (it all-reduces the gradients); the
    # bare module for evaluation and checkpoints, so records do not depend on it.
    if cfg.channels_last:
        task.model.to(memory_format=torch.channels_last)
    train_model = DistributedDataParallel(task.model) if world.distributed else task.model
    if cfg.compile:
        train_model = torch.compile(train_model)
    advance = _fused_step(task) if fused else _eager_step(task, train_model, device, cfg.precision,
                                                          cfg.channels_last)
    segment_start = time.perf_counter()
    wall_before = state.wall_time_s

    with _StopFlag() as stop:
        for epoch in range(state.epoch, cfg.epochs):
            order, local_bs = shard_order(epoch_order(cfg.order, n, seed, epoch), bs, world)
            if source is None:
                order = order.to(device)
                xs, ys = train_x[order], train_y[order]

                def fetch(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
                    return xs[a * local_bs : b * local_bs], ys[a * local_bs : b * local_bs]
            else:
                stream = source.batches(order[state.step_in_epoch * local_bs :], local_bs)

                def fetch(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
                    return next(stream)  # one batch per step: no fused backend streams
            task.model.train()
            bar = tqdm(
                total=samples_per_epoch,
                initial=min(state.step_in_epoch * bs, samples_per_epoch),
                desc=f"pass {epoch + 1}/{cfg.epochs}",
                unit=task.progress_unit,
                unit_scale=True,
                leave=False,
                disable=None if (cfg.progress and world.is_main) else True,
            )
            running = state.running_loss
            t0 = time.perf_counter()
            step = state.step_in_epoch
            while step < steps_per_epoch:
                end = _chunk_end(step, steps_per_epoch, state.global_step, cfg, fused)
                running += advance(*fetch(step, end))
                done = min(end * bs, samples_per_epoch) - step * bs
                state.global_step += end - step
                state.samples += done
                bar.update(done)
                step = end
                for callback in callbacks:
                    callback(state.global_step)
                last_step = step == steps_per_epoch
                if stop.set or (cfg.checkpoint_every_steps and state.global_step % cfg.checkpoint_every_steps == 0 and not last_step):
                    state.step_in_epoch = step
                    state.running_loss = running
                    state.train_time_s += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    state.wall_time_s = wall_before + time.perf_counter() - segment_start
                    _save_checkpoint(run, task, state, config, world)
                    if stop.set:
                        bar.close()
                        raise TrainingInterrupted(run, epoch, step)
            bar.close()
            state.train_time_s += time.perf_counter() - t0
            (running,) = all_reduce_sum([running], device)

            lr = _current_lr(task.optimizer)
            row: dict[str, Any] = {"pass": epoch + 1, "lr": lr, "train_step_loss": running / samples_per_epoch}
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                t1 = time.perf_counter()
                final_sets = task.final_eval_sets if epoch + 1 == cfg.epochs else {}
                for split, data in {**eval_sets, **final_sets}.items():
                    if callable(data):
                        res = data(task.model)
                    else:
                        res = evaluate(task.model, data[0], data[1], task.loss_fn, cfg.eval_batch_size, task.predict)
                    if world.is_main:
                        log(res.line(split))
                    metrics = {k: v for k, v in res.as_dict().items() if k != "n"}
                    state.eval_keys[split] = list(metrics)
                    row.update({f"{split}_{k}": v for k, v in metrics.items()})
                state.eval_time_s += time.perf_counter() - t1
            if task.counters is not None:
                counts = dict(task.counters())
                row.update(zip(counts, all_reduce_sum(list(counts.values()), device)))
            if task.scheduler is not None:
                if task.scheduler_metric is None:
                    task.scheduler.step()
                elif task.scheduler_metric in row:
                    task.scheduler.step(row[task.scheduler_metric])
            state.wall_time_s = wall_before + time.perf_counter() - segment_start
            row.update({"train_time_s": state.train_time_s, "wall_time_s": state.wall_time_s})
            state.history.append(row)
            state.epoch, state.step_in_epoch, state.running_loss = epoch + 1, 0, 0.0
            _save_checkpoint(run, task, state, config, world)
            if world.is_main:
                write_history(run, state.history)

    final = {split: {k: state.history[-1][f"{split}_{k}"] for k in keys} for split, keys in state.eval_keys.items()}
    extra = dict(task.finish(run.path)) if task.finish is not None and world.is_main else {}
    metrics = {
        **(meta or {}),
        **extra,
        "seed": seed,
        "passes": cfg.epochs,
        "final": final,
        "train_samples": state.samples,
        "train_time_s": state.train_time_s,
        "eval_time_s": state.eval_time_s,
        "wall_time_s": state.wall_time_s,
        "samples_per_s": state.samples / state.train_time_s if state.train_time_s > 0 else None,
        "world_size": world.size,
        "environment": env,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": dict(config),
    }
    if world.is_main:
        write_metrics(run, metrics)
    return metrics


def _eager_step(
    task: TrainTask, model: nn.Module, device: torch.device, precision: str, channels_last: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """One PyTorch forward/backward/update on one batch; returns loss * batch size."""
    autocast = precision == "bf16"

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        # No-ops for in-memory data; streamed batches arrive (pinned) on the CPU.
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        if task.batch_transform is not None:
            xb = task.batch_transform(xb)
        if channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = task.loss_fn(model(xb), yb)
        task.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        task.optimizer.step()
        return loss.item() * yb.shape[0]

    return step


def _fused_step(task: TrainTask) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """A chunk of per-example steps in the fused backend. Augmentation is drawn
    per image, independent of the weights, so it is applied to the whole chunk
    first (the draws differ from eager's, the distribution does not)."""

    def steps(xs: torch.Tensor, ys: torch.Tensor) -> float:
        if task.batch_transform is not None:
            xs = task.batch_transform(xs)
        return task.fused_steps(xs, ys)

    return steps


def _chunk_end(step: int, steps_per_epoch: int, global_step: int, cfg: TrainerConfig, fused: bool) -> int:
    """Where the next call stops: one step for eager; for a fused backend the
    chunk size, the next checkpoint boundary or the end of the pass."""
    if not fused:
        return step + 1
    end = steps_per_epoch
    if cfg.fused_chunk_steps:
        end = min(end, step + cfg.fused_chunk_steps)
    if cfg.checkpoint_every_steps:
        to_checkpoint = cfg.checkpoint_every_steps - global_step % cfg.checkpoint_every_steps
        end = min(end, step + to_checkpoint)
    return end


__all__ = ["BatchSource", "EvalResult", "ResumeError", "TrainTask", "TrainerConfig", "TrainingInterrupted", "fit"]

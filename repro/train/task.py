"""What the shared loop trains: the era's `TrainTask`, and the knobs every era's trainer has.

The era decides *what* is trained (model, loss, optimizer, data, evaluation);
the loop (loop.py) decides *how*. Knobs only one era has live in that era's
trainer config, a subclass of `TrainerConfig` (lecun1989: the fused backends;
alexnet2012: channels_last and torch.compile), and reach the loop through the
task's `stepper` and `wrap_train_model`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import nn

from repro.config import ConfigError

from .evaluate import Evaluator


# The most passes a run may ask for: 1,000 times the longest schedule either era publishes
# (cuda-convnet's 520 passes on CIFAR-10), far below where a step count could overflow
# (passes x steps per pass stays an int64 even for ImageNet's 10,000 steps a pass).
# Past it is a typo (trainer.epochs=10**20 would start with an ETA of trillions of days).
MAX_PASSES = 100_000


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
    # "bf16": forward and loss under torch.autocast in bfloat16, weights and
    # updates in float32 (mixed precision, Micikevicius et al. 2018). Eager steps only.
    precision: Literal["fp32", "bf16"] = "fp32"
    # A cap on passes applied after every trick (0 = none): quick looks and
    # smoke sweeps (`trainer.max_epochs=1`) without editing each row's recipe.
    max_epochs: int = 0
    # "swa": evaluate and keep the mean of the end-of-pass weights of the passes after the
    # first `average_start` fraction (Izmailov et al. 2018; averaging.py). Neither paper averages.
    average: Literal["none", "swa"] = "none"
    average_start: float = 0.75
    # Stop after the first pass whose `stop_split` error (%) is at or below `stop_error`
    # ("" = never): the AlexNet paper's Figure 1 counts the epochs each net needs to
    # reach 25% training error, and a net that is there need not train on. The record
    # says where it stopped; the passes not run are not run (`passes` is what ran).
    stop_split: str = ""
    stop_error: float = 0.0

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("checkpoint_every_steps", "threads", "max_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("epochs", "max_epochs"):
            if getattr(self, name) > MAX_PASSES:
                raise ValueError(f"{name}={getattr(self, name)} is more passes than any run can make; "
                                 f"use at most {MAX_PASSES:,} (repro/train/task.py, MAX_PASSES)")
        if self.average not in ("none", "swa"):
            raise ValueError(f"average must be none or swa, not {self.average!r}")
        if not 0.0 <= self.average_start < 1.0:
            raise ValueError("average_start must be in [0, 1): the fraction of passes before averaging starts")
        if self.stop_split and not 0.0 <= self.stop_error <= 100.0:
            raise ValueError(f"stop_error must be a percentage in [0, 100], not {self.stop_error}")
        if self.stop_error and not self.stop_split:
            # Would be a silent no-op: the record would show a target that never applied.
            raise ValueError(f"stop_error={self.stop_error:g} without stop_split does nothing; name the split "
                             "whose error it is (trainer.stop_split=train or holdout) or drop stop_error")
        check_device_name(self.device, "device")


def check_stop_split(trainer: TrainerConfig, evaluated: Mapping[str, str], test_splits: Collection[str]) -> None:
    """ConfigError unless `trainer.stop_split` is empty or names a split this run
    evaluates after every pass and that is not a test set (stopping there is a
    choice made on the test set, which the README forbids). ``evaluated``: each
    split the era can evaluate every pass -> "" when this run does, else what
    turns it on (e.g. {"holdout": "data.val_size > 0"})."""
    split = trainer.stop_split
    if not split:
        return
    usable = [name for name, needs in evaluated.items() if not needs]
    if split in test_splits:
        raise ConfigError(f"trainer.stop_split={split}: {split} is this run's test set, and no choice is made on "
                          f"it, not even when to stop; stop on {' or '.join(evaluated)} instead")
    if split in evaluated and evaluated[split]:
        raise ConfigError(f"trainer.stop_split={split}: this run does not evaluate {split} (that needs "
                          f"{evaluated[split]}), so it would never stop")
    if split not in evaluated:
        raise ConfigError(f"trainer.stop_split={split}: no split of that name is evaluated, so the run would "
                          f"never stop; the splits it can stop on: {', '.join(evaluated)}"
                          + ("" if usable else " (none is evaluated by this run as configured)"))


# Device types a run can train on; torch parses more (meta, lazy, ...) that cannot.
TRAINING_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def check_device_name(device: str, where: str) -> None:
    """ValueError unless ``device`` is a torch device string a run can train on
    (``cpu``, ``cuda``, ``cuda:<index>``...). Syntax only: whether this machine
    has it is `require_device`'s question, asked when a run starts."""
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError, TypeError):
        kind = None
    if kind not in TRAINING_DEVICE_TYPES:
        raise ValueError(f"{where}={device!r} is not a device to train on; use cpu, cuda or cuda:<index> "
                         f"(torch device types: {', '.join(TRAINING_DEVICE_TYPES)})")


def require_device(device: str, where: str = "trainer.device",
                   cpu_hint: str = "run on the CPU with trainer.device=cpu") -> None:
    """ConfigError unless this machine has ``device``: a missing GPU is named
    as such, before any data is read or any run directory is claimed."""
    from repro.config import ConfigError

    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{where}={device} but no CUDA GPU is available "
                              f"(torch.cuda.is_available() is False); {cpu_hint}")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"{where}={device} but this machine has {count} CUDA GPU(s), "
                              f"cuda:0..cuda:{count - 1}; {cpu_hint}")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{where}={device} but no Apple MPS device is available; {cpu_hint}")
    elif dev.type != "cpu":
        backend = getattr(torch, dev.type, None)
        if backend is None or not backend.is_available():
            raise ConfigError(f"{where}={device} but no {dev.type} device is available; {cpu_hint}")


@dataclass(frozen=True)
class BatchSource:
    """Training data the loop does not hold in memory: ``batches(indices,
    batch_size)`` yields (inputs, labels) for consecutive slices of
    ``indices`` in exactly that order (the loop passes what remains of the
    pass, so a resumed run continues where it stopped)."""

    n: int  # examples per pass
    batches: Callable[[torch.Tensor, int], Iterator[tuple[torch.Tensor, torch.Tensor]]]


class Stepper(Protocol):
    """Runs training steps [step, chunk_end) on their examples, in place on the
    model, and returns the sum over steps of loss * batch size. The eager
    stepper (steps.py) runs one step per call; an era's fused backend may run
    many (the loop checks for interrupts between calls)."""

    def chunk_end(self, step: int, steps_per_epoch: int, global_step: int) -> int: ...

    def __call__(self, xs: torch.Tensor, ys: torch.Tensor) -> float: ...


@dataclass
class TrainTask:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, labels) -> mean loss
    # In-memory (inputs, labels), or a BatchSource that streams them.
    train: tuple[torch.Tensor, torch.Tensor] | BatchSource
    # Per split: tensors (x, y) evaluated by `evaluate`, or the era's own Evaluator.
    eval_sets: Mapping[str, tuple[torch.Tensor, torch.Tensor] | Evaluator]
    # Evaluated after the last pass only (AlexNet's 10-crop testing: ten
    # forward passes per image are too dear for every pass).
    final_eval_sets: Mapping[str, Evaluator] = field(default_factory=dict)
    scheduler: Any | None = None  # an LR scheduler stepped once per pass
    # The history column a ReduceLROnPlateau-style scheduler steps on (e.g.
    # "val_error"); None = scheduler.step() with no argument.
    scheduler_metric: str | None = None
    batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # training-time augmentation
    predict: Callable[[torch.Tensor], torch.Tensor] = field(default=lambda out: out.argmax(1))
    # The era's own way to run steps (lecun1989's fused kernels); None = eager.
    stepper: Stepper | None = None
    # Wraps the module the training forward goes through (after DDP): alexnet2012's torch.compile.
    wrap_train_model: Callable[[nn.Module], nn.Module] | None = None
    # Running totals the era keeps (images skipped as unreadable...), summed
    # over processes into each pass's history row and the final metrics.
    counters: Callable[[], Mapping[str, float]] | None = None
    # Called once after the last pass, before metrics.json is written, with the
    # run directory: the era saves what its reports need (final weights,
    # misclassified examples) and returns entries to add to the metrics.
    finish: Callable[[Path], Mapping[str, Any]] | None = None
    progress_unit: str = "ex"  # the progress bar shows <unit>/s

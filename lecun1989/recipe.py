"""What LeCun et al. 1989 did, as one typed recipe built from the Hydra config.

The recipe says *what* is trained; `repro.train.fit` says *how*. Modern tricks
(modern_tricks/, selected by the `trick` config group) are functions
Recipe -> Recipe, applied here in their fixed order before `build_task`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from modern_tricks import Applied, apply_tricks
from repro.config import ConfigError, parse
from repro.data import DigitSplits
from repro.train import task as shared
from repro.train.task import TrainTask
from repro.train.optim import OptimConfig, build_optimizer, build_scheduler

from .artifacts import save_artifacts
from .rejection import save_rejection
from .tta import tta_record
from .augment import AugmentConfig, augment_batch
from .data import DataConfig
from .fused import FusedStepper, fused_curvature, fused_steps, resolve_backend
from .loss import cross_entropy, mse_pm1
from .model import ModelConfig, Net1989, build_model
from .sdlm import PARAMS as SDLM_PARAMS, SDLM, SDLMConfig, eager_curvature
from .sdlm import unsupported as sdlm_unsupported


@dataclass(frozen=True)
class TrainerConfig(shared.TrainerConfig):
    """The shared trainer's knobs plus the 1989 era's fast backends."""

    # How the training steps run. "eager": one PyTorch forward/backward/step per
    # example (the reference). fused_cpu / cuda_persistent: the same per-example
    # steps in one C++ or CUDA kernel call per chunk of steps (fused/). auto (the
    # default): the fused backend of the device when it supports the recipe (every
    # per-example trick; batched tricks are not), else eager.
    backend: str = "auto"
    # Fused backends run this many steps per call (0 = up to the next checkpoint
    # or the end of the pass). Interrupts and progress are handled between calls.
    fused_chunk_steps: int = 0
    # Cores for the fused backend's evaluation (the C++ forward over both splits after each
    # pass). 0: every core this process may use -- per-example training keeps one core busy
    # and the evaluation would otherwise take ~13% of its time on one; runs sharing the
    # cores (a parallel sweep, fused/many.py) use 1.
    eval_threads: int = 0

    def validate(self) -> None:
        super().validate()
        if self.fused_chunk_steps < 0:
            raise ValueError("fused_chunk_steps must be >= 0")
        if self.eval_threads < 0:
            raise ValueError("eval_threads must be >= 0")

    @property
    def eval_cores(self) -> int:
        """eval_threads resolved: 0 -> the cores this process may run on, shared among the runs
        stepping in it at once (fused/many.py)."""
        return self.eval_threads or max(1, available_cores() // _runs_sharing)


@dataclass(frozen=True)
class Recipe:
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Paper: MSE between tanh outputs and +-1 targets. "ce": softmax
    # cross-entropy on logits (trick softmax_ce), with optional label smoothing.
    loss: Literal["mse", "ce"] = "mse"
    label_smoothing: float = 0.0

    def loss_fn(self):
        return mse_pm1 if self.loss == "mse" else cross_entropy(self.label_smoothing)

    def free_parameters(self) -> int:
        """The network's free parameters as this recipe builds it (the `rebalance` trick's budget
        check asks the recipe, so the shared tricks import no era)."""
        return build_model(self.model, 0).counts()["free_parameters"]


def recipe_from_config(cfg: Mapping[str, Any]) -> tuple[Recipe, tuple[Applied, ...]]:
    """The base recipe of the config's groups, with the selected tricks applied
    (and `trainer.max_epochs` capping the passes last)."""
    base = Recipe(
        data=parse(DataConfig, cfg["data"], "data"),
        model=parse(ModelConfig, cfg["model"], "model"),
        # optim=sdlm: the paper's optimizer, with its own keys (lecun1989/sdlm.py); else the shared optimizers.
        optim=parse(SDLMConfig if (cfg["optim"] or {}).get("name") == "sdlm" else OptimConfig, cfg["optim"], "optim"),
        trainer=parse(TrainerConfig, cfg["trainer"], "trainer"),
        augment=parse(AugmentConfig, cfg.get("augment") or {}, "augment"),
        **dataclasses.asdict(parse(_Objective, {k: cfg[k] for k in ("loss", "label_smoothing") if k in cfg}, "config")),
    )
    recipe, applied = apply_tricks(base, cfg.get("trick") or {})
    problem = recipe.model.init_draw_problem()  # needs the tricks applied (init_karpathy sets what it needs)
    if problem:
        raise ConfigError(problem)
    cap = recipe.trainer.max_epochs
    if cap and recipe.trainer.epochs > cap:
        recipe = replace(recipe, trainer=replace(recipe.trainer, epochs=cap))
    trainer = recipe.trainer
    # The splits evaluated every pass; "test" is the paper's test set, never stopped on.
    shared.check_stop_split(trainer, {"train": "", "holdout": "" if recipe.data.val_size else "data.val_size > 0"},
                            test_splits=("test",))
    if trainer.backend not in ("eager", "auto") and trainer.precision != "fp32":
        # The fused kernels compute in float32 (before any data is loaded: a config mistake).
        raise ConfigError(f"trainer.precision={trainer.precision} applies to the eager backend only "
                          f"(trainer.backend={trainer.backend}); use trainer.backend=eager or auto")
    return recipe, applied


def check_devices(recipe: Recipe) -> None:
    """ConfigError unless this machine has the recipe's device (a run checks it
    before reading any data; composing a recipe does not need the hardware)."""
    shared.require_device(recipe.trainer.device)


@dataclass(frozen=True)
class _Objective:
    """The top-level `loss` and `label_smoothing` keys, checked like a group."""

    loss: Literal["mse", "ce"] = "mse"
    label_smoothing: float = 0.0

    def validate(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError("label_smoothing must be in [0, 1)")
        if self.label_smoothing and self.loss != "ce":
            raise ValueError("label_smoothing applies to loss=ce only")


def build_task(recipe: Recipe, digits: DigitSplits, seed: int) -> tuple[TrainTask, Net1989, str]:
    """The task for the shared loop, the model, and the backend that runs it
    (`trainer.backend=auto` resolved)."""
    device = torch.device(recipe.trainer.device)
    model = build_model(recipe.model, seed).to(device)
    aug, trainer = recipe.augment, recipe.trainer
    optimizer = optimizer_for(recipe, model, steps_per_pass=len(digits.y_train))
    # The fused kernels compute in float32 on per-example steps: the batched tricks
    # (minibatch, batchnorm, mixed_precision) run eager under auto, and are refused by name otherwise.
    backend = resolve_backend(trainer.backend, model, optimizer, recipe.loss, trainer.batch_size, trainer.precision)
    # Eager draws the augmentation from torch's global RNG; fused from its counter-based generator (FusedStepper).
    shift = (lambda x: augment_batch(x, aug)) if aug.active else None
    steps = fused_steps(backend, model, optimizer, recipe.loss, trainer.batch_size,
                        label_smoothing=recipe.label_smoothing, seed=seed, precision=trainer.precision)
    if isinstance(optimizer, SDLM):  # h from the backend's own computation of it (the same numbers: tested)
        x_train, size = digits.x_train.to(device), recipe.optim.hessian_sample
        optimizer.curvature = (fused_curvature(model, x_train, size, seed) if steps is not None
                               else eager_curvature(model, x_train, size, seed))
    splits = {"train": (digits.x_train, digits.y_train)}
    if recipe.data.evaluate_test:  # false: a validation search never touches the test digits
        splits["test"] = (digits.x_test, digits.y_test)
    wrong_on = (digits.x_test, digits.y_test) if recipe.data.evaluate_test else None
    # Test-time augmentation's own numbers (lecun1989/tta.py): every evaluated split but the training digits.
    tta_splits = {"holdout": (digits.x_val, digits.y_val)} if len(digits.y_val) else {}
    tta_splits.update({k: v for k, v in splits.items() if k != "train"})
    task = TrainTask(
        model=model,
        optimizer=optimizer,
        loss_fn=recipe.loss_fn(),
        train=(digits.x_train, digits.y_train),
        eval_sets=eval_sets(backend, model, splits, recipe.loss_fn(), trainer.eval_batch_size, trainer.eval_cores),
        scheduler=build_scheduler(optimizer, recipe.optim, recipe.trainer.epochs),
        batch_transform=shift,
        stepper=FusedStepper(steps, aug, seed, trainer.fused_chunk_steps, trainer.checkpoint_every_steps) if steps else None,
        finish=lambda path: {**save_artifacts(path, model, *((t.to(device) for t in wrong_on) if wrong_on else ())),
                             **tta_record(model, _to(tta_splits, device), recipe.loss, aug.fill),
                             # The paper's rejection figure (lecun1989/rejection.py): only with the test digits.
                             **(save_rejection(path, model, *(t.to(device) for t in wrong_on)) if wrong_on else {})},
    )
    return task, model, backend


def optimizer_for(recipe: Recipe, model: Net1989, steps_per_pass: int = 1) -> torch.optim.Optimizer:
    """The recipe's optimizer on the model: the shared ones (repro.train.optim), or optim=sdlm's
    (its curvature function is set once the backend is known; ``steps_per_pass``: training digits)."""
    if not isinstance(recipe.optim, SDLMConfig):
        return build_optimizer(model.parameters(), recipe.optim)
    problems = sdlm_unsupported(model, recipe.loss, recipe.trainer.batch_size)
    if problems:
        raise ConfigError("optim=sdlm (the paper's per-example diagonal Levenberg-Marquardt) does not run: "
                          + "; ".join(problems))
    assert tuple(n for n, _ in model.named_parameters()) == SDLM_PARAMS  # the kernels' order
    return SDLM(model.parameters(), recipe.optim, steps_per_pass)


def _to(splits: dict, device: torch.device) -> dict:
    return {k: (x.to(device), y.to(device)) for k, (x, y) in splits.items()}


_runs_sharing = 1  # runs stepping at once in this process (fused/many.py sets it)


@contextlib.contextmanager
def runs_sharing_cores(runs: int) -> Iterator[None]:
    """Inside the block, ``runs`` runs step at once in this process: trainer.eval_threads=0 gives each
    its share of the cores."""
    global _runs_sharing
    before, _runs_sharing = _runs_sharing, max(1, runs)
    try:
        yield
    finally:
        _runs_sharing = before


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def eval_sets(backend: str, model: Net1989, splits, loss_fn, batch_size: int, threads: int = 1) -> dict:
    """Each split's evaluation: on the fused CPU backend, the C++ kernel's own forward
    (lecun1989/fused/evaluate.py: the same outputs, far faster than PyTorch's grouped
    convolution at these shapes; issue 22); otherwise the shared `evaluate` on tensors."""
    if backend == "fused_cpu":
        from .fused.evaluate import fused_evaluator, supports

        if supports(model):
            return {k: fused_evaluator(x, y, loss_fn, batch_size, threads=threads) for k, (x, y) in splits.items()}
    return dict(splits)

"""Optimizers and per-pass learning-rate schedules, built from the `optim` group."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class OptimConfig:
    # LeCun et al. 1989 used per-example updates with "a special version of
    # Newton's algorithm that uses a positive, diagonal approximation of the
    # Hessian" (stochastic diagonal Levenberg-Marquardt). We use plain SGD with
    # a constant rate, as Karpathy's repro does; the rate is in conf/<era>/optim/.
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.03
    momentum: float = 0.0
    weight_decay: float = 0.0
    # Per-pass schedule: "constant"; "linear" from lr to lr_final over the
    # run (Karpathy's AdamW row: 3e-4 -> 1e-4); "cosine" from lr to lr_final
    # (Loshchilov & Hutter 2017); "onecycle": linear warm-up from lr_final to
    # lr over the first `warmup` fraction of passes, then cosine back down to
    # lr_final (Smith & Topin 2019); "step": times `gamma` at each pass in
    # `milestones` (a fixed schedule); "plateau": times `gamma` when the
    # history column `plateau_metric` has not improved by `plateau_threshold`
    # for `plateau_patience` evaluations, at most `max_reductions` times
    # (AlexNet 2012: "divide the learning rate by 10 when the validation error
    # rate stopped improving ... reduced three times prior to termination").
    # Pass e trains at the rate the schedule gives for e (plateau: the state is
    # checkpointed), so a resumed run sees the same rates.
    schedule: Literal["constant", "linear", "cosine", "onecycle", "step", "plateau"] = "constant"
    lr_final: float | None = None
    warmup: float = 0.3  # onecycle only: fraction of passes spent warming up
    milestones: tuple[int, ...] = ()  # step only: 0-based passes from which the rate is multiplied by gamma
    gamma: float = 0.1  # step and plateau
    plateau_metric: str = "val_error"
    plateau_patience: int = 1
    plateau_threshold: float = 0.0  # absolute improvement (in the metric's units) that counts
    max_reductions: int = 3
    # Which parameters `weight_decay` applies to: "all", or "weights" (every
    # parameter but the biases, named *bias). AlexNet 2012 writes the decay
    # term on w only ("v <- 0.9 v - 0.0005 e w - e <dL/dw>"); cuda-convnet's
    # `wc` is a weights-only parameter; Caffe's bvlc_alexnet gives every bias
    # `decay_mult: 0`. "weights" needs named parameters (`named_parameters()`).
    decay: Literal["all", "weights"] = "all"
    # Which parameter groups a linear/cosine/onecycle/step schedule scales:
    # "all", or "weights" (groups not named *bias keep their rate).
    # cuda-convnet's layer-params-cifar10-11pct.cfg: "Lower learning rates
    # (epsW) by a factor of 10" (epsB unchanged).
    schedule_scope: Literal["all", "weights"] = "all"

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError("lr must be > 0")
        if self.lr_final is not None and self.lr_final < 0:
            raise ValueError("lr_final must be >= 0")
        if not 0.0 < self.warmup < 1.0:
            raise ValueError("warmup must be in (0, 1)")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError("momentum must be in [0, 1)")
        if self.schedule in ("linear", "cosine", "onecycle") and self.lr_final is None:
            raise ValueError(f"schedule={self.schedule} needs lr_final")
        if self.schedule == "step" and not self.milestones:
            raise ValueError("schedule=step needs milestones (0-based passes)")
        if list(self.milestones) != sorted(set(self.milestones)) or any(m < 1 for m in self.milestones):
            raise ValueError("milestones must be increasing passes >= 1")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError("gamma must be in (0, 1)")
        if self.plateau_patience < 0 or self.max_reductions < 0 or self.plateau_threshold < 0:
            raise ValueError("plateau_patience, plateau_threshold and max_reductions must be >= 0")
        if self.schedule_scope == "weights" and self.schedule in ("constant", "plateau"):
            raise ValueError(f"schedule_scope=weights needs a per-pass schedule (linear, cosine, onecycle, step), "
                             f"not {self.schedule}")


def _is_bias(name: str) -> bool:
    return name.endswith("bias")


def decay_groups(named: Iterable[tuple[str, torch.nn.Parameter]], cfg: OptimConfig) -> list[dict]:
    """Two parameter groups, "weights" (decayed by cfg.weight_decay) and
    "biases" (decayed only with cfg.decay="all"); empty groups are left out."""
    named = list(named)
    weights = [p for n, p in named if not _is_bias(n)]
    biases = [p for n, p in named if _is_bias(n)]
    bias_decay = cfg.weight_decay if cfg.decay == "all" else 0.0
    groups = [{"params": weights, "weight_decay": cfg.weight_decay, "name": "weights"},
              {"params": biases, "weight_decay": bias_decay, "name": "biases"}]
    return [g for g in groups if g["params"]]


def build_optimizer(params: Iterable, cfg: OptimConfig) -> torch.optim.Optimizer:
    """From parameters, parameter groups (dicts), or named parameters
    (`model.named_parameters()`: split by `decay_groups`)."""
    params = list(params)
    if params and isinstance(params[0], tuple):
        params = decay_groups(params, cfg)
    elif cfg.decay != "all" and cfg.weight_decay and not (params and isinstance(params[0], dict)):
        raise ValueError(f"optim.decay={cfg.decay} needs named parameters to tell biases from weights")
    if cfg.name == "sgd":
        # fused=True: weight decay, momentum and the step in one pass per parameter; an AlexNet
        # step on 2 CPU cores spends about 4x less time in it than in the default per-tensor loop.
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=True)
    if cfg.name == "adamw":
        # fused=True: the same update in one kernel per parameter; per-example
        # steps on CPU run about 1.2x faster than with the default foreach form.
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def lr_factor(cfg: OptimConfig, epochs: int, epoch: int) -> float:
    """The multiple of ``cfg.lr`` that pass ``epoch`` (0-based) trains at."""
    if cfg.schedule in ("constant", "plateau"):
        return 1.0
    if cfg.schedule == "step":
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    ratio = cfg.lr_final / cfg.lr
    span = max(epochs - 1, 1)
    t = min(epoch / span, 1.0)  # 0 on the first pass, 1 on the last
    if cfg.schedule == "linear":
        return 1.0 + (ratio - 1.0) * t
    if cfg.schedule == "cosine":
        return ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    # onecycle
    if t < cfg.warmup:
        return ratio + (1.0 - ratio) * t / cfg.warmup
    u = (t - cfg.warmup) / (1.0 - cfg.warmup)
    return ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * u))


def plateau_metric(cfg: OptimConfig) -> str | None:
    """The history column the scheduler steps on (None: it steps per pass)."""
    return cfg.plateau_metric if cfg.schedule == "plateau" else None


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, epochs: int):
    """A LambdaLR stepped once per pass, a ReduceLROnPlateau stepped on
    `cfg.plateau_metric` (see `plateau_metric`), or None for a constant rate."""
    if cfg.schedule == "constant":
        return None
    if cfg.schedule == "plateau":
        # The floor sits a hair below lr * gamma^max_reductions, so exactly
        # max_reductions reductions happen and no partial one after them.
        # Its eps (the smallest change applied) is relative to the rates in
        # play, not torch's absolute 1e-8, so tiny rates are reduced too.
        last = cfg.lr * cfg.gamma**cfg.max_reductions
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.gamma, patience=cfg.plateau_patience,
            threshold=cfg.plateau_threshold, threshold_mode="abs", min_lr=last * (1 - 1e-6), eps=last * 1e-3,
        )
    factor = functools.partial(lr_factor, cfg, epochs)
    if cfg.schedule_scope == "weights":
        lambdas = [_constant if _is_bias(g.get("name", "")) else factor for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _constant(epoch: int) -> float:
    return 1.0

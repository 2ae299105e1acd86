"""Optimizers and per-pass learning-rate schedules, built from the `optim` group."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class OptimConfig:
    # LeCun et al. 1989 used per-example updates with "a special version of
    # Newton's algorithm that uses a positive, diagonal approximation of the
    # Hessian" (stochastic diagonal Levenberg-Marquardt). We use plain SGD with
    # a constant rate, as Karpathy's repro does; the rate is in conf/optim/.
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.03
    momentum: float = 0.0
    weight_decay: float = 0.0
    # Per-pass schedule: "constant", or "linear" from lr to lr_final over the
    # run (Karpathy's AdamW row: 3e-4 -> 1e-4).
    schedule: Literal["constant", "linear"] = "constant"
    lr_final: float | None = None

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError("lr must be > 0")
        if self.schedule == "linear" and self.lr_final is None:
            raise ValueError("schedule=linear needs lr_final")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError("momentum must be in [0, 1)")


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, epochs: int):
    """A LambdaLR stepped once per pass, or None for a constant rate."""
    if cfg.schedule == "constant":
        return None
    ratio = cfg.lr_final / cfg.lr
    span = max(epochs - 1, 1)
    # Pass e (0-based) trains at lr * (1 - t) + lr_final * t with t = e / (epochs - 1).
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0 + (ratio - 1.0) * min(e / span, 1.0))

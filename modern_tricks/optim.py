"""Tricks on the optimizer and its learning-rate schedule."""

from __future__ import annotations

from dataclasses import dataclass

from .trick import Stage, Trick, edit, register


@dataclass(frozen=True)
class AdamWParams:
    # Karpathy 2022: "AdamW with LR 3e-4, and decay it down to 1e-4 over the
    # course of training" (linearly, per pass, in modern.py), with PyTorch's
    # default weight decay 0.01 ("a little bit of weight decay came in for the ride").
    lr: float = 3e-4
    lr_final: float = 1e-4
    weight_decay: float = 0.01

    def validate(self) -> None:
        if self.lr <= 0 or self.lr_final < 0 or self.weight_decay < 0:
            raise ValueError("lr must be > 0; lr_final and weight_decay >= 0")


ADAMW = register(Trick(
    name="adamw",
    origin="Loshchilov & Hutter 2019 (AdamW; Adam: Kingma & Ba 2015)",
    summary="AdamW, lr {lr:g} decaying linearly to {lr_final:g} over the passes, weight decay {weight_decay:g}, "
            "instead of plain SGD",
    stage=Stage.OPTIMIZER,
    changes=("optim.name", "optim.lr", "optim.lr_final", "optim.schedule", "optim.weight_decay", "optim.momentum"),
    params=AdamWParams,
    apply=lambda r, p: edit(r, {"optim.name": "adamw", "optim.lr": p.lr, "optim.lr_final": p.lr_final,
                                "optim.schedule": "linear", "optim.weight_decay": p.weight_decay,
                                "optim.momentum": 0.0}),
))


@dataclass(frozen=True)
class CosineParams:
    final_ratio: float = 0.0  # the last pass trains at lr * final_ratio

    def validate(self) -> None:
        if not 0.0 <= self.final_ratio < 1.0:
            raise ValueError("final_ratio must be in [0, 1)")


COSINE_LR = register(Trick(
    name="cosine_lr",
    origin="Loshchilov & Hutter 2017 (SGDR: cosine annealing)",
    summary="learning rate annealed along a half cosine over the passes, from lr down to {final_ratio:g} times lr",
    stage=Stage.SCHEDULE,
    changes=("optim.schedule", "optim.lr_final"),
    params=CosineParams,
    apply=lambda r, p: edit(r, {"optim.schedule": "cosine", "optim.lr_final": r.optim.lr * p.final_ratio}),
))


@dataclass(frozen=True)
class OneCycleParams:
    peak: float = 3.0  # peak rate = the optimizer's lr * peak
    div: float = 25.0  # start and end rate = peak rate / div (PyTorch's OneCycleLR default)
    warmup: float = 0.3  # fraction of passes spent rising (Smith & Topin's 0.3)

    def validate(self) -> None:
        if self.peak <= 0 or self.div <= 1 or not 0.0 < self.warmup < 1.0:
            raise ValueError("peak must be > 0, div > 1 and warmup in (0, 1)")


ONE_CYCLE = register(Trick(
    name="one_cycle",
    origin="Smith & Topin 2019 (Super-Convergence: the one-cycle policy)",
    summary="rate rises linearly from lr*{peak:g}/{div:g} to lr*{peak:g} over the first {warmup:.0%} of passes, "
            "then cosine-anneals back down to lr*{peak:g}/{div:g}",
    stage=Stage.SCHEDULE,
    changes=("optim.schedule", "optim.lr", "optim.lr_final", "optim.warmup"),
    params=OneCycleParams,
    apply=lambda r, p: edit(r, {"optim.schedule": "onecycle", "optim.lr": r.optim.lr * p.peak,
                                "optim.lr_final": r.optim.lr * p.peak / p.div, "optim.warmup": p.warmup}),
))

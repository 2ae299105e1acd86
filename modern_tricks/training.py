"""Tricks on how long and in what form the network is trained."""

from __future__ import annotations

from dataclasses import dataclass

from .trick import Stage, Trick, edit, register


@dataclass(frozen=True)
class PassesParams:
    # Karpathy 2022 raised the passes as he added tricks: 46 with AdamW, 60 with
    # augmentation, 80 with dropout (rows of conf/lecun1989/row/karpathy_table/ set these).
    epochs: int = 80

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")


MORE_PASSES = register(Trick(
    name="more_passes",
    origin="Karpathy 2022 (46, 60, then 80 passes instead of the paper's 23)",
    summary="{epochs} passes over the training set instead of the paper's 23",
    stage=Stage.TRAINING,
    changes=("trainer.epochs",),
    params=PassesParams,
    apply=lambda r, p: edit(r, {"trainer.epochs": p.epochs}),
))


@dataclass(frozen=True)
class MinibatchParams:
    batch_size: int = 32
    lr_multiplier: float = 1.0  # e.g. batch_size for the linear scaling rule (Goyal et al. 2017)

    def validate(self) -> None:
        if self.batch_size < 2 or self.lr_multiplier <= 0:
            raise ValueError("batch_size must be >= 2 and lr_multiplier > 0")


MINIBATCH = register(Trick(
    name="minibatch",
    origin="mini-batch SGD as GPUs made standard (Krizhevsky et al. 2012: batch 128)",
    summary="mean loss over mini-batches of {batch_size} instead of per-example updates, "
            "SGD rate times {lr_multiplier:g}",
    stage=Stage.TRAINING,
    changes=("trainer.batch_size", "optim.lr"),
    params=MinibatchParams,
    apply=lambda r, p: edit(r, {"trainer.batch_size": p.batch_size, "optim.lr": r.optim.lr * p.lr_multiplier}),
))

MIXED_PRECISION = register(Trick(
    name="mixed_precision",
    origin="Micikevicius et al. 2018 (Mixed Precision Training); bfloat16: Kalamkar et al. 2019",
    summary="forward and loss in bfloat16 under autocast, weights and updates in float32",
    stage=Stage.TRAINING,
    changes=("trainer.precision",),
    apply=lambda r, p: edit(r, {"trainer.precision": "bf16"}),
))


@dataclass(frozen=True)
class SwaParams:
    # Izmailov et al. 2018 average from 75% of the budget on (their "SWA from epoch 0.75 x budget"
    # schedules use a constant or cyclic rate meanwhile; we keep the run's own schedule).
    start: float = 0.75

    def validate(self) -> None:
        if not 0.0 <= self.start < 1.0:
            raise ValueError("start must be in [0, 1)")


SWA = register(Trick(
    name="swa",
    origin="Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018 (stochastic weight averaging)",
    summary="average the weights at the end of every pass after the first {start:.0%} of the passes; "
            "evaluate and keep the average",
    stage=Stage.TRAINING,
    changes=("trainer.average", "trainer.average_start"),
    params=SwaParams,
    apply=lambda r, p: edit(r, {"trainer.average": "swa", "trainer.average_start": p.start}),
))

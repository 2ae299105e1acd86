"""Tricks on the loss: softmax + cross-entropy, label smoothing."""

from __future__ import annotations

from dataclasses import dataclass

from .trick import Stage, Trick, edit, register


@dataclass(frozen=True)
class SoftmaxParams:
    # Karpathy 2022 on this change: "Had to lower the learning rate to 0.01".
    # Applied only while the optimizer is SGD; null keeps the current rate.
    sgd_lr: float | None = 0.01


def _softmax_ce(recipe, p: SoftmaxParams):
    changes = {"loss": "ce", "model.output_activation": "none"}
    if p.sgd_lr is not None and recipe.optim.name == "sgd":
        changes["optim.lr"] = p.sgd_lr
    return edit(recipe, changes)


SOFTMAX_CE = register(Trick(
    name="softmax_ce",
    origin="Bridle 1990 (softmax outputs as probabilities); Karpathy 2022 for this net",
    summary="logits (no output tanh) and softmax cross-entropy instead of MSE to +-1; "
            "SGD rate {sgd_lr}",
    stage=Stage.LOSS,
    changes=("loss", "model.output_activation", "optim.lr"),
    params=SoftmaxParams,
    apply=_softmax_ce,
))


@dataclass(frozen=True)
class SmoothingParams:
    eps: float = 0.1  # Szegedy et al. 2016 used 0.1

    def validate(self) -> None:
        if not 0.0 < self.eps < 1.0:
            raise ValueError("eps must be in (0, 1)")


LABEL_SMOOTHING = register(Trick(
    name="label_smoothing",
    origin="Szegedy et al. 2016 (Rethinking the Inception Architecture)",
    summary="cross-entropy against (1 - eps) one-hot + eps uniform targets, eps={eps:g}",
    stage=Stage.LOSS,
    changes=("label_smoothing",),
    params=SmoothingParams,
    apply=lambda r, p: edit(r, {"label_smoothing": p.eps}),
    check=lambda r: [] if r.loss == "ce" else ["label smoothing needs the cross-entropy loss; add trick softmax_ce"],
))

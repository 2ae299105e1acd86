"""Tricks on the network: activation, dropout, normalisation, width."""

from __future__ import annotations

from dataclasses import dataclass

from .trick import Stage, Trick, edit, register

RELU = register(Trick(
    name="relu",
    origin="Nair & Hinton 2010; Glorot, Bordes & Bengio 2011 (rectified linear units)",
    summary="ReLU instead of tanh in H1, H2 and H3",
    stage=Stage.ARCHITECTURE,
    changes=("model.activation",),
    apply=lambda r, p: edit(r, {"model.activation": "relu"}),
))


@dataclass(frozen=True)
class DropoutParams:
    p: float = 0.25  # Karpathy 2022: "a weak dropout of 0.25 just before ... H3"

    def validate(self) -> None:
        if not 0.0 < self.p < 1.0:
            raise ValueError("p must be in (0, 1)")


DROPOUT = register(Trick(
    name="dropout",
    origin="Hinton et al. 2012; Srivastava et al. 2014 (dropout)",
    summary="dropout p={p} on H2's outputs, before H3 (the layer with the most weights)",
    stage=Stage.ARCHITECTURE,
    changes=("model.dropout",),
    params=DropoutParams,
    apply=lambda r, p: edit(r, {"model.dropout": p.p}),
))


def _needs_minibatches(recipe) -> list[str]:
    if recipe.trainer.batch_size < 2:
        return ["BatchNorm needs mini-batches (H3 has one value per unit and example); add trick minibatch"]
    return []


BATCHNORM = register(Trick(
    name="batchnorm",
    origin="Ioffe & Szegedy 2015 (batch normalization)",
    summary="BatchNorm on the pre-activations of H1, H2 and H3",
    stage=Stage.ARCHITECTURE,
    changes=("model.norm",),
    apply=lambda r, p: edit(r, {"model.norm": "batch"}),
    check=_needs_minibatches,
))


@dataclass(frozen=True)
class WiderParams:
    factor: int = 2

    def validate(self) -> None:
        if self.factor < 2:
            raise ValueError("factor must be >= 2")


WIDER = register(Trick(
    name="wider",
    origin="Zagoruyko & Komodakis 2016 (width as the lever: Wide ResNets)",
    summary="H1, H2 and H3 {factor} times wider (more parameters; H2 keeps its 2-of-3-groups connectivity)",
    stage=Stage.ARCHITECTURE,
    changes=("model.h1_maps", "model.h2_maps", "model.h3_units"),
    params=WiderParams,
    apply=lambda r, p: edit(r, {"model.h1_maps": r.model.h1_maps * p.factor, "model.h2_maps": r.model.h2_maps * p.factor,
                                "model.h3_units": r.model.h3_units * p.factor}),
))

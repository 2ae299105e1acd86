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


# The 1989 network's free parameters (LeCun et al. 1989, section 5.1: "9760 free parameters"):
# the budget issue 21's recipes must stay within.
BUDGET_1989 = 9760


@dataclass(frozen=True)
class RebalanceParams:
    # The default is the rearrangement chosen on the validation split (conf/lecun1989/experiment/
    # usps_budget.yaml): H2 reads all 12 H1 maps (the paper: 8 of 12) and H3 gives up 6 of its 30
    # units to pay for the 1,200 new H2 weights; 9,742 parameters.
    h1_maps: int = 12
    h2_maps: int = 12
    h3_units: int = 24
    h2_scheme: str = "full"

    def validate(self) -> None:
        if min(self.h1_maps, self.h2_maps, self.h3_units) < 1:
            raise ValueError("h1_maps, h2_maps and h3_units must be >= 1")
        if self.h2_scheme not in ("three_groups", "full"):
            raise ValueError("h2_scheme must be three_groups or full")
        if self.h2_scheme == "three_groups" and (self.h1_maps % 3 or self.h2_maps % 3):
            raise ValueError("h2_scheme=three_groups needs h1_maps and h2_maps divisible by 3")


def _within_budget(recipe) -> list[str]:
    # The era counts its own network (its recipe's `free_parameters()`): the shared tricks import no era.
    count = getattr(recipe, "free_parameters", None)
    if count is None:
        return [f"needs a recipe that counts its free parameters ({type(recipe).__name__} has no free_parameters())"]
    n = count()
    return [] if n <= BUDGET_1989 else [f"{n:,} free parameters, over the 1989 network's {BUDGET_1989:,}"]


REBALANCE = register(Trick(
    name="rebalance",
    origin="the width/depth trade-off of modern small nets (e.g. Tan & Le 2019, EfficientNet), here at fixed size",
    summary="layer widths h1={h1_maps}, h2={h2_maps} (H2 connectivity {h2_scheme}), h3={h3_units}: the 1989 "
            "budget spent differently (refused above its 9,760 parameters)",
    stage=Stage.ARCHITECTURE,
    changes=("model.h1_maps", "model.h2_maps", "model.h3_units", "model.h2_scheme"),
    params=RebalanceParams,
    apply=lambda r, p: edit(r, {"model.h1_maps": p.h1_maps, "model.h2_maps": p.h2_maps,
                                "model.h3_units": p.h3_units, "model.h2_scheme": p.h2_scheme}),
    check=_within_budget,
))

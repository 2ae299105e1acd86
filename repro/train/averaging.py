"""Weight averaging: stochastic weight averaging (SWA; Izmailov et al. 2018, "Averaging Weights
Leads to Wider Optima and Better Generalization").

With ``trainer.average=swa`` the loop keeps the equal-weight mean of the parameters at the end
of every pass from pass `first_averaged_pass` on (by default the last quarter of the run).
Once the mean holds at least one pass, every evaluation reads the averaged weights (the history
columns are the averaged model's), and after the last pass the model keeps them, so the final
metrics and the era's artifacts are the averaged model's. Training itself continues from the
raw weights, as in SWA. The mean and its count are part of the loop's state: a checkpoint
holds them and a resumed run averages exactly as an uninterrupted one.

Only parameters are averaged. BatchNorm's running statistics would need a pass over the
training data after averaging (SWA's bn_update), which this loop does not run, so a model
with BatchNorm layers is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

AVERAGES = ("none", "swa")


def first_averaged_pass(epochs: int, start: float) -> int:
    """The first pass (1-based) whose end-of-pass weights enter the mean: the passes after the
    first ``start`` fraction of ``epochs``; at least the last pass."""
    return min(epochs, math.floor(start * epochs) + 1)


def check_model(model: nn.Module) -> None:
    """ValueError when the model's averaged weights would need statistics the loop does not recompute."""
    norms = [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        raise ValueError("trainer.average=swa averages parameters only; BatchNorm's running statistics would need "
                         f"recomputing after averaging (SWA's bn_update), which is not implemented (layers: "
                         f"{', '.join(norms)})")


def update(average: dict[str, torch.Tensor] | None, count: int, model: nn.Module) -> tuple[dict[str, torch.Tensor], int]:
    """The running mean with the model's current parameters added: mean += (w - mean) / (count + 1)."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    if average is None or count == 0:
        return {name: p.clone() for name, p in params.items()}, 1
    for name, p in params.items():
        average[name].add_(p - average[name], alpha=1.0 / (count + 1))
    return average, count + 1


@contextmanager
def averaged_weights(model: nn.Module, average: dict[str, torch.Tensor] | None) -> Iterator[None]:
    """The model holds the averaged parameters inside the block and its own again after it
    (copied in place: a fused stepper holding the parameter tensors keeps them)."""
    if not average:
        yield
        return
    params = dict(model.named_parameters())
    saved = {name: p.detach().clone() for name, p in params.items()}
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(average[name])
    try:
        yield
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(saved[name])


def load_average(model: nn.Module, average: dict[str, torch.Tensor]) -> None:
    """The model keeps the averaged parameters (after the last pass)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(average[name])


__all__ = ["AVERAGES", "averaged_weights", "check_model", "first_averaged_pass", "load_average", "update"]

"""The plain-PyTorch reference the fused kernels are checked against: the eager
model trained per example with `optim.SGD`, exactly as the eager loop does."""

from __future__ import annotations

import torch

from ..loss import mse_pm1
from ..model import Net1989

PARAMS = ("h1_w", "h1_b", "h2_w", "h2_b", "h3_w", "h3_b", "out_w", "out_b")


def eager_pass(model: Net1989, xs: torch.Tensor, ys: torch.Tensor, lr: float = 0.03) -> float:
    """One SGD update per example of (xs, ys), in order; returns the sum of the losses."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    total = 0.0
    for i in range(len(ys)):
        loss = mse_pm1(model(xs[i : i + 1]), ys[i : i + 1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total


def max_weight_difference(a: Net1989, b: Net1989) -> float:
    return max((getattr(a, k).detach().cpu() - getattr(b, k).detach().cpu()).abs().max().item() for k in PARAMS)

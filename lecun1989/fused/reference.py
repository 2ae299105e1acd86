"""The plain-PyTorch reference the fused kernels are checked against: the eager
model trained per example with `optim.SGD`, exactly as the eager loop does."""

from __future__ import annotations

import numpy as np
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


def eager_replay(model: Net1989, optimizer: torch.optim.Optimizer, loss_fn, xs: torch.Tensor, ys: torch.Tensor, *,
                 seed: int = 0, pass_: int = 0, step0: int = 0, shift: int = 0, fill: float = -1.0,
                 wrap: bool = False) -> float:
    """Steps ``step0 ..`` of pass ``pass_`` on the eager model, one PyTorch forward/backward/
    ``optimizer.step()`` per example, with the fused run's own draws (counter_rng.py): the
    shifts of augment_shift (``shift`` > 0) and the dropout masks (``model.cfg.dropout``).
    Returns the sum of the losses. The reference a fused run with draws is checked against."""
    from ..augment import shift_by
    from . import counter_rng

    steps = np.arange(step0, step0 + len(ys), dtype=np.uint64)
    if shift:
        xs = shift_by(xs, counter_rng.shifts(seed, pass_, steps, shift), fill, wrap)
    p = model.cfg.dropout
    masks = counter_rng.dropout_masks(seed, pass_, steps, model.cfg.h2_maps * 16, p) if p else None
    model.train()
    total = 0.0
    for i in range(len(ys)):
        out = model(xs[i : i + 1], None if masks is None else masks[i : i + 1])
        loss = loss_fn(out, ys[i : i + 1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total

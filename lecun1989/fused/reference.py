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
                 wrap: bool = False, augment=None) -> float:
    """Steps ``step0 ..`` of pass ``pass_`` on the eager model, one PyTorch forward/backward/
    ``optimizer.step()`` per example, with the fused run's own draws (counter_rng.py): the
    shifts of augment_shift (``shift`` > 0), or every augmentation of ``augment`` (an
    AugmentConfig: distortions too), and the dropout masks (``model.cfg.dropout``).
    Returns the sum of the losses. The reference a fused run with draws is checked against."""
    from ..augment import AugmentConfig
    from . import counter_rng

    steps = np.arange(step0, step0 + len(ys), dtype=np.uint64)
    augment = augment or AugmentConfig(shift=shift, fill=fill, wrap=wrap)
    if augment.active:
        xs = counter_rng.augment(xs, augment, seed, pass_, steps)
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

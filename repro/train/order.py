"""The order in which training examples are visited, reproducible per pass.

The order of pass ``e`` is a pure function of (mode, seed, e, n), so a run
resumed in the middle of a pass sees exactly the order it would have seen.
"""

from __future__ import annotations

import torch

ORDERS = ("file", "shuffled_once", "reshuffle")


def epoch_order(mode: str, n: int, seed: int, epoch: int) -> torch.Tensor:
    if mode == "file":
        # The data file's own order every pass (Karpathy's repro; the paper is silent).
        return torch.arange(n)
    if mode == "shuffled_once":
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if mode == "reshuffle":
        # A distinct stream per (seed, pass); the large odd multiplier keeps
        # nearby seeds from sharing passes.
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch + 1))
    raise ValueError(f"unknown sample order {mode!r}; choose one of {ORDERS}")

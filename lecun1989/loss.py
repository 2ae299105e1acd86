"""Losses of the 1989 era.

`mse_pm1` is the paper's; `cross_entropy` is the modern change (modern_tricks
`softmax_ce`, optionally with label smoothing) and reads raw logits.

The 1989 loss: mean squared error between the 10 outputs and +-1 targets.

Paper, section 5.2: the desired output is +1 for the unit of the correct class
and -1 for the others; the cost is the mean squared error. We average over the
10 outputs and the batch (a constant factor the learning rate absorbs).
"""

from __future__ import annotations

import torch


def pm1_targets(labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    targets = torch.full((labels.shape[0], classes), -1.0, device=labels.device)
    return targets.scatter_(1, labels[:, None], 1.0)


def mse_pm1(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.mean((outputs - pm1_targets(labels, outputs.shape[1])) ** 2)


def cross_entropy(label_smoothing: float = 0.0):
    """Softmax + cross-entropy on logits (mean over the batch)."""

    def loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.float(), labels, label_smoothing=label_smoothing)

    return loss

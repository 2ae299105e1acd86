"""The "torch" implementation of every op kind: standard PyTorch layers.

Local response normalization follows the paper's formula (section 3.3):

    b^i_{x,y} = a^i_{x,y} / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a^j_{x,y})^2)^beta

with k=2, n=5, alpha=1e-4, beta=0.75 in the paper. ``groups`` splits the
channels into towers that are normalised separately: each GPU's layer only
sees its own kernel maps, so the first map of tower B has no neighbour in A.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register


class LocalResponseNorm(nn.Module):
    """The paper's LRN across channels, within each of ``groups`` channel blocks."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, groups: int = 1):
        super().__init__()
        if size < 1 or size % 2 == 0:
            # torch's window for even n is i-n/2 .. i+n/2-1, not the paper's
            # symmetric i-n/2 .. i+n/2; the two agree only for odd n.
            raise ValueError(f"LRN size must be odd and >= 1, got {size}")
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c % self.groups:
            raise ValueError(f"LRN: {c} channels do not split into {self.groups} groups")
        # Folding the towers into the batch dimension normalises each one alone.
        y = x.reshape(b * self.groups, c // self.groups, h, w)
        # F.local_response_norm averages the squares (divides alpha by n); the
        # paper sums them, so pass alpha * n to get alpha * sum.
        y = F.local_response_norm(y, self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k)
        return y.reshape(b, c, h, w)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, groups={self.groups}"


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0, groups: int = 1):
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)


def _pool(kernel_size: int = 3, stride: int = 2):
    # The paper's overlapping pooling: z=3 > s=2.
    return nn.MaxPool2d(kernel_size, stride)


register("conv", "torch", _conv)
register("fc", "torch", lambda in_features, out_features: nn.Linear(in_features, out_features))
register("lrn", "torch", LocalResponseNorm)
register("pool", "torch", _pool)
register("activation", "torch", lambda: nn.ReLU())
register("dropout", "torch", lambda p: nn.Dropout(p))
register("loss", "torch", lambda label_smoothing=0.0: nn.CrossEntropyLoss(label_smoothing=label_smoothing))

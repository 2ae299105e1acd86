"""Local response normalisation (the paper's section 3.3), all of it: the formula's
reference, the "torch" layer, and the hand-written kernel (repro_alexnet::lrn_forward
and lrn_backward; csrc/lrn.cuh, lrn.cu, lrn_ops.cpp) with its fake, its autograd
and its layer.

    b^i_{x,y} = a^i_{x,y} / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a^j_{x,y})^2)^beta

with k=2, n=5, alpha=1e-4, beta=0.75 in the paper. ``groups`` splits the
channels into towers that are normalised separately: each GPU's layer only
sees its own kernel maps, so the first map of tower B has no neighbour in A.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .library import OPS, ensure_built, fake_like, no_double_backward

# ----------------------------------------------------------------------------- public function


def lrn(x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
        groups: int = 1) -> torch.Tensor:
    """The paper's cross-channel LRN (alpha times the *sum* of n squares), per channel group, in one kernel pass."""
    ensure_built()
    return OPS.lrn_forward(x, size, alpha, beta, k, groups)[0]


# ----------------------------------------------------------------------------- reference


def lrn_reference(a: torch.Tensor, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                  groups: int = 1) -> torch.Tensor:
    """Section 3.3 term by term, slow, for tests: an explicit loop over channels i and neighbours j.

    With ``groups`` towers, N is the tower's channel count and j stays inside
    the tower of channel i.
    """
    channels = a.shape[1]
    per_tower = channels // groups
    out = []
    for i in range(channels):
        first = (i // per_tower) * per_tower
        last = first + per_tower - 1
        total = torch.zeros_like(a[:, i])
        for j in range(max(first, i - n // 2), min(last, i + n // 2) + 1):
            total = total + a[:, j] ** 2
        out.append(a[:, i] / (k + alpha * total) ** beta)
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------- fake and autograd


def _forward_fake(x, size, alpha, beta, k, groups):
    return fake_like(x), fake_like(x, torch.float32)


def _backward_fake(grad_y, x, scale, size, alpha, beta, groups):
    return fake_like(x)


def _setup(ctx, inputs, output):
    x, size, alpha, beta, _k, groups = inputs
    ctx.save_for_backward(x, output[1])
    ctx.args = (size, alpha, beta, groups)


def _backward(ctx, grad_y, _grad_scale):
    x, scale = ctx.saved_tensors
    return OPS.lrn_backward(grad_y, x, scale, *ctx.args), None, None, None, None, None


def register_fake_and_autograd() -> None:
    """Called once by ``library.ensure_built()``, after the build has defined the ops."""
    torch.library.register_fake("repro_alexnet::lrn_forward", _forward_fake)
    torch.library.register_fake("repro_alexnet::lrn_backward", _backward_fake)
    torch.library.register_autograd("repro_alexnet::lrn_forward", _backward, setup_context=_setup)
    no_double_backward("lrn_backward")


# ----------------------------------------------------------------------------- layers (model.ops.lrn)


class LocalResponseNorm(nn.Module):
    """``model.ops.lrn=torch``: the paper's LRN across channels, within each of ``groups`` channel
    blocks, through torch's ``F.local_response_norm``."""

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


class LRN(LocalResponseNorm):
    """``model.ops.lrn=custom``: the torch layer's arguments, checks and (empty) state, the kernel's forward."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, groups: int = 1):
        super().__init__(size, alpha, beta, k, groups)
        ensure_built()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrn(x, self.size, self.alpha, self.beta, self.k, self.groups)

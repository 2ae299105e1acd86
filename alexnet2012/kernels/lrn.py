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


def _window_sum(s: torch.Tensor, size: int, groups: int = 1) -> torch.Tensor:
    """sum_{j=i-n/2}^{i+n/2} s_j along the channels (dim 1), zero outside each of ``groups``
    channel blocks: n-1 shifted adds per block. Slicing the blocks (instead of folding them into
    the batch) keeps a channels_last tensor a view: the fold would copy it."""
    out = s.clone()
    per = s.shape[1] // groups
    for first in range(0, s.shape[1], per):
        last = first + per
        for d in range(1, min(size // 2, per - 1) + 1):
            out[:, first + d:last] += s[:, first:last - d]
            out[:, first:last - d] += s[:, first + d:last]
    return out


def _neg_pow(scale: torch.Tensor, beta: float, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """scale ** -beta; for the paper's beta = 0.75 as rsqrt(s) * sqrt(rsqrt(s)), several times cheaper than pow
    (``scratch``, a tensor like ``scale`` the caller no longer needs, holds the sqrt)."""
    if beta == 0.75:
        r = scale.rsqrt()
        return r.mul_(r.sqrt() if scratch is None else torch.sqrt(r, out=scratch))
    return scale.pow(-beta)


class _ClosedFormLRN(torch.autograd.Function):
    """The section 3.3 formula with its gradient written out, in a few whole-tensor passes:

        s_i = k + alpha * sum_{j in W(i)} a_j^2,    b_i = a_i * s_i^-beta
        da_j = g_j * s_j^-beta - 2 * alpha * beta * a_j * sum_{i in W(j)} g_i * b_i / s_i

    (W is symmetric, so the backward window sum is the forward one). On the CPU this is
    about 2.4x faster than autograd through F.local_response_norm's avg_pool3d composite
    (bench/alexnet_step.py), and the same function: tests/alexnet2012/kernels/test_lrn.py."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, size: int, alpha: float, beta: float, k: float, groups: int) -> torch.Tensor:
        squares = a * a
        scale = _window_sum(squares, size, groups).mul_(alpha).add_(k)
        # The squares are spent: their buffer takes the sqrt, then b (a fresh CPU buffer costs
        # its page faults, about as much as the pass that fills it). The same values.
        scale_pow = _neg_pow(scale, beta, scratch=squares)
        b = torch.mul(a, scale_pow, out=squares)
        ctx.save_for_backward(a, b, scale, scale_pow)
        ctx.args = (size, alpha, beta, groups)
        return b

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        a, b, scale, scale_pow = ctx.saved_tensors
        size, alpha, beta, groups = ctx.args
        inner = (g * b).div_(scale)
        grad = _window_sum(inner, size, groups).mul_(a).mul_(-2.0 * alpha * beta)
        return grad.addcmul_(g, scale_pow), None, None, None, None, None


class LocalResponseNorm(nn.Module):
    """``model.ops.lrn=torch``: the paper's LRN across channels, within each of ``groups`` channel
    blocks, in plain PyTorch: on the CPU the closed-form forward and backward above (measured
    faster there), elsewhere torch's ``F.local_response_norm`` (unmeasured against the closed
    form on a GPU, so left as it was)."""

    FORMULATIONS = ("auto", "closed_form", "composite")

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, groups: int = 1,
                 formulation: str = "auto"):
        super().__init__()
        if size < 1 or size % 2 == 0:
            # torch's window for even n is i-n/2 .. i+n/2-1, not the paper's
            # symmetric i-n/2 .. i+n/2; the two agree only for odd n.
            raise ValueError(f"LRN size must be odd and >= 1, got {size}")
        if formulation not in self.FORMULATIONS:
            raise ValueError(f"LRN formulation must be one of {self.FORMULATIONS}, got {formulation!r}")
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups
        # "auto": the closed form on the CPU, torch's composite elsewhere; the other two force one
        # (model.ops.lrn=torch_composite is the composite everywhere: the baseline of bench/alexnet_step.py).
        self.formulation = formulation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c % self.groups:
            raise ValueError(f"LRN: {c} channels do not split into {self.groups} groups")
        closed_form = self.formulation == "closed_form" or (self.formulation == "auto" and x.device.type == "cpu")
        if closed_form:  # each tower's channel block on its own (in any memory order)
            return _ClosedFormLRN.apply(x, self.size, self.alpha, self.beta, self.k, self.groups)
        # Folding the towers into the batch dimension normalises each one alone.
        y = x.reshape(b * self.groups, c // self.groups, h, w)
        # F.local_response_norm averages the squares (divides alpha by n); the
        # paper sums them, so pass alpha * n to get alpha * sum.
        y = F.local_response_norm(y, self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k)
        return y.reshape(b, c, h, w)

    def extra_repr(self) -> str:
        args = f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, groups={self.groups}"
        return args if isinstance(self, LRN) else f"{args}, formulation={self.formulation}"


class LRN(LocalResponseNorm):
    """``model.ops.lrn=custom``: the torch layer's arguments, checks and (empty) state, the kernel's forward."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, groups: int = 1):
        super().__init__(size, alpha, beta, k, groups)
        ensure_built()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrn(x, self.size, self.alpha, self.beta, self.k, self.groups)

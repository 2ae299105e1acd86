"""cuda-convnet's response normalisations, with its constants (src/cudaconv2/conv_util.cu, layer.py).

Both divide ``scale`` by the number of terms in the window and add 1 (the
AlexNet paper's LRN adds k = 2 and does not divide alpha):

    cross-map (``crossMap=1``):  b_f = a_f * (1 + scale/size * sum_{g in W(f)} a_g^2)^(-pow),
        W(f) = channels f - size/2 .. f - size/2 + size - 1, clipped to the layer;
    same map (``type=rnorm``):   b_xy = a_xy * (1 + scale/size^2 * sum_{(u,v) in W(x,y)} a_uv^2)^(-pow),
        W(x, y) = the size x size square from (x - size/2, y - size/2), clipped to the image.

The cross-map form is the paper's LRN with k=1, alpha=scale/size, n=size, so
it is built through the ops seam (one LRN implementation: torch or the
custom kernel). The same-map form is a window sum by pooling, with its
gradient written out (``_ClosedFormSameMapNorm``, as the LRN's closed form).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from alexnet2012.kernels.lrn import _neg_pow
from alexnet2012.ops import make


def cross_map_norm(size: int, scale: float, power: float, impl: str = "torch") -> nn.Module:
    if size % 2 == 0:
        raise ValueError(f"cross-map norm: size must be odd (a centred window of channels), got {size}")
    return make("lrn", impl, size=size, alpha=scale / size, beta=power, k=1.0, groups=1)


def same_map_norm_reference(x: torch.Tensor, size: int, scale: float, power: float) -> torch.Tensor:
    """The same-map formula through autograd (what the layer ran before issue 32; the tests compare)."""
    before = size // 2
    after = size - 1 - before
    # Zero padding adds nothing to a sum of squares: the clipped window's sum.
    padded = F.pad(x * x, (before, after, before, after))
    sums = F.avg_pool2d(padded, size, stride=1, divisor_override=1)
    return x * (1.0 + scale / size**2 * sums).pow(-power)


def _window_sum(s: torch.Tensor, size: int, transpose: bool = False) -> torch.Tensor:
    """sum over the size x size window from (y - size/2, x - size/2), clipped (zeros outside add
    nothing); ``transpose``: over the window's adjoint (the backward's sum; the same one for odd size).
    An odd window pads inside the pooling (no padded copy of the maps)."""
    if size % 2:
        return F.avg_pool2d(s, size, stride=1, padding=size // 2, count_include_pad=True, divisor_override=1)
    before, after = size // 2, size - 1 - size // 2
    if transpose:
        before, after = after, before
    return F.avg_pool2d(F.pad(s, (before, after, before, after)), size, stride=1, divisor_override=1)


class _ClosedFormSameMapNorm(torch.autograd.Function):
    """b = a * s^-pow with s = 1 + c * W(a^2), c = scale / size^2, and its gradient written out:

        da = g * s^-pow - 2 * c * pow * a * W'(g * b / s)        (W' the window's adjoint)

    A few whole-tensor passes instead of autograd's graph of the composite (pow alone was ~10% of a
    layers-18pct step on the CPU; bench/cifar_step.py). The same function: tests/alexnet2012/convnet/test_norms.py."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, size: int, scale: float, power: float) -> torch.Tensor:
        squares = a * a
        s = _window_sum(squares, size).mul_(scale / size**2).add_(1.0)
        s_pow = _neg_pow(s, power, scratch=squares)  # the squares' buffer is spent: it takes the sqrt
        b = torch.mul(a, s_pow, out=squares)
        ctx.save_for_backward(a, b, s, s_pow)
        ctx.args = (size, scale, power)
        return b

    @staticmethod
    @once_differentiable
    def backward(ctx, g: torch.Tensor):
        a, b, s, s_pow = ctx.saved_tensors
        size, scale, power = ctx.args
        inner = (g * b).div_(s)
        grad = _window_sum(inner, size, transpose=True).mul_(a).mul_(-2.0 * scale / size**2 * power)
        return grad.addcmul_(g, s_pow), None, None, None


class SameMapResponseNorm(nn.Module):
    """Normalisation by the squares in a size x size spatial window of the same map."""

    def __init__(self, size: int, scale: float, power: float):
        super().__init__()
        if size < 1:
            raise ValueError(f"same-map norm: size must be >= 1, got {size}")
        self.size, self.scale, self.power = size, scale, power

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ClosedFormSameMapNorm.apply(x, self.size, self.scale, self.power)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, pow={self.power}"

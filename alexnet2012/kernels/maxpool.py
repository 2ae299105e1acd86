"""Max pooling (the paper's overlapping 3x3/2, any window, stride and padding): the kernel
repro_alexnet::maxpool_forward and maxpool_backward (csrc/maxpool.cuh, maxpool.cu,
maxpool_ops.cpp) with its fake, its autograd, its reference and its layer.

The backward is a gather per input (no atomics): deterministic although windows overlap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .library import OPS, ensure_built, fake_like, no_double_backward, out_size

# ----------------------------------------------------------------------------- public function


def max_pool(x: torch.Tensor, kernel_size: int = 3, stride: int = 2, padding: int = 0) -> torch.Tensor:
    """Max pooling [N, C, H, W] (overlapping when kernel_size > stride), as F.max_pool2d."""
    ensure_built()
    return OPS.maxpool_forward(x, kernel_size, stride, padding)[0]


# ----------------------------------------------------------------------------- reference


def max_pool_reference(x: torch.Tensor, kernel_size: int = 3, stride: int = 2, padding: int = 0) -> torch.Tensor:
    """torch's max pooling: the same values, and the same tie and NaN rules (so the same gradients)."""
    return F.max_pool2d(x, kernel_size, stride, padding)


# ----------------------------------------------------------------------------- fake and autograd


def _forward_fake(x, kernel, stride, padding):
    n, c, h, w = x.shape
    shape = (n, c, out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding))
    return fake_like(x, shape=shape), fake_like(x, torch.int32, shape)


def _backward_fake(grad_y, argmax, height, width, kernel, stride, padding):
    n, c = grad_y.shape[:2]
    return fake_like(grad_y, shape=(n, c, height, width))


def _setup(ctx, inputs, output):
    x, kernel, stride, padding = inputs
    ctx.save_for_backward(output[1])
    ctx.args = (x.shape[2], x.shape[3], kernel, stride, padding)


def _backward(ctx, grad_y, _grad_argmax):
    (argmax,) = ctx.saved_tensors
    return OPS.maxpool_backward(grad_y, argmax, *ctx.args), None, None, None


def register_fake_and_autograd() -> None:
    """Called once by ``library.ensure_built()``, after the build has defined the ops."""
    torch.library.register_fake("repro_alexnet::maxpool_forward", _forward_fake)
    torch.library.register_fake("repro_alexnet::maxpool_backward", _backward_fake)
    torch.library.register_autograd("repro_alexnet::maxpool_forward", _backward, setup_context=_setup)
    no_double_backward("maxpool_backward")


# ----------------------------------------------------------------------------- layer (model.ops.pool=custom)


class MaxPool(nn.Module):
    """Max pooling with an argmax-gather backward (deterministic with overlapping windows); the
    torch layer is nn.MaxPool2d. Neither has state."""

    def __init__(self, kernel_size: int = 3, stride: int = 2, padding: int = 0):
        super().__init__()
        ensure_built()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

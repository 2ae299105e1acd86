"""Bias + ReLU in one pass: the kernel repro_alexnet::bias_relu and bias_relu_backward
(csrc/bias_relu.cuh, bias_relu.cu, bias_relu_ops.cpp) with its fake, its autograd,
its reference and its layer.

The layer before the ReLU runs without its bias and the add happens here
(``alexnet2012/ops/fusion.py``); after a custom conv or fc layer the ReLU runs
in that layer's epilogue instead, and the convolution's backward uses
bias_relu_backward for the ReLU's gradient and the bias sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .library import OPS, ensure_built, fake_like, no_double_backward

# ----------------------------------------------------------------------------- public function


def bias_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """relu(x + bias[c]) on [N, C, ...] in one pass."""
    ensure_built()
    return OPS.bias_relu(x, bias)


# ----------------------------------------------------------------------------- reference


def bias_relu_reference(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.relu(x + bias.to(x.dtype).view(shape))


# ----------------------------------------------------------------------------- fake and autograd


def _forward_fake(x, bias):
    return fake_like(x)


def _backward_fake(grad_y, y):
    return fake_like(y), fake_like(y, torch.float32, (y.shape[1],))


def _setup(ctx, inputs, output):
    ctx.save_for_backward(output)
    ctx.bias_dtype = inputs[1].dtype


def _backward(ctx, grad_y):
    (y,) = ctx.saved_tensors
    grad_x, grad_bias = OPS.bias_relu_backward(grad_y, y)
    return grad_x, grad_bias.to(ctx.bias_dtype)


def register_fake_and_autograd() -> None:
    """Called once by ``library.ensure_built()``, after the build has defined the ops."""
    torch.library.register_fake("repro_alexnet::bias_relu", _forward_fake)
    torch.library.register_fake("repro_alexnet::bias_relu_backward", _backward_fake)
    torch.library.register_autograd("repro_alexnet::bias_relu", _backward, setup_context=_setup)
    no_double_backward("bias_relu_backward")


# ----------------------------------------------------------------------------- layer (model.ops.activation=custom)


class BiasReLU(nn.Module):
    """ReLU that also adds the previous layer's bias (``alexnet2012/ops/fusion.py`` hands it over);
    the torch layer is nn.ReLU. Neither has state."""

    def __init__(self):
        super().__init__()
        ensure_built()

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if bias is None:  # used on its own: a plain ReLU
            bias = torch.zeros(x.shape[1], dtype=torch.float32, device=x.device)
        return bias_relu(x, bias)

"""Convolution by implicit GEMM (cuda-convnet's filterActs, imgActs, weightActs): the kernels
repro_alexnet::conv_forward, conv_backward_data and conv_backward_weight (csrc/conv.cuh,
conv.cu, conv_ops.cpp) with their fakes, autograd and autocast rule, the reference, and
the layers behind model.ops.conv=custom and model.ops.fc=custom.

Square kernels, one stride and one zero padding both ways, groups (the towers);
bias and an optional ReLU in the epilogue; bf16 on tensor cores. A fully
connected layer is a 1x1 convolution of a 1x1 map, so the fc layers run on the
same kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .library import OPS, ensure_built, fake_like, no_double_backward, out_size

# ----------------------------------------------------------------------------- public function


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: int = 0, groups: int = 1, relu: bool = False) -> torch.Tensor:
    """F.conv2d (square kernel, symmetric stride and padding) by implicit GEMM, optionally
    with the ReLU fused into the epilogue: relu(conv(x, w) + b). bf16 runs on tensor cores."""
    ensure_built()
    return OPS.conv_forward(x, weight, bias, stride, padding, groups, relu)


# ----------------------------------------------------------------------------- reference


def conv2d_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                     padding: int = 0, groups: int = 1, relu: bool = False) -> torch.Tensor:
    y = F.conv2d(x, weight, None if bias is None else bias.to(x.dtype), stride, padding, 1, groups)
    return F.relu(y) if relu else y


# ----------------------------------------------------------------------------- fakes, autograd, autocast


def _forward_fake(x, weight, bias, stride, padding, groups, relu):
    k = weight.shape[2]
    shape = (x.shape[0], weight.shape[0], out_size(x.shape[2], k, stride, padding),
             out_size(x.shape[3], k, stride, padding))
    return fake_like(x, shape=shape)


def _backward_data_fake(grad_y, weight, height, width, stride, padding, groups):
    return fake_like(grad_y, shape=(grad_y.shape[0], weight.shape[1] * groups, height, width))


def _backward_weight_fake(grad_y, x, kernel, stride, padding, groups):
    return fake_like(x, shape=(grad_y.shape[1], x.shape[1] // groups, kernel, kernel))


def _setup(ctx, inputs, output):
    x, weight, bias, stride, padding, groups, relu = inputs
    # relu: the ReLU's mask comes from the output, as in bias_relu.
    ctx.save_for_backward(x, weight, output if relu else None)
    ctx.args = (stride, padding, groups)
    ctx.relu, ctx.bias_dtype = relu, None if bias is None else bias.dtype


def _backward(ctx, grad_y):
    x, weight, y = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]  # need_b is False without a bias
    if ctx.relu:  # the gradient through the fused ReLU, and its bias sum, in one pass
        grad_z, grad_b = OPS.bias_relu_backward(grad_y, y)
    else:
        grad_z = grad_y
        grad_b = grad_z.sum(dim=(0, 2, 3), dtype=torch.float32) if need_b else None
    grad_x = OPS.conv_backward_data(grad_z, weight, x.shape[2], x.shape[3], *ctx.args) if need_x else None
    grad_w = OPS.conv_backward_weight(grad_z, x, weight.shape[2], *ctx.args) if need_w else None
    grad_b = grad_b.to(ctx.bias_dtype) if need_b else None
    return grad_x, grad_w, grad_b, None, None, None, None


def register_fake_and_autograd() -> None:
    """Called once by ``library.ensure_built()``, after the build has defined the ops."""
    torch.library.register_fake("repro_alexnet::conv_forward", _forward_fake)
    torch.library.register_fake("repro_alexnet::conv_backward_data", _backward_data_fake)
    torch.library.register_fake("repro_alexnet::conv_backward_weight", _backward_weight_fake)
    torch.library.register_autograd("repro_alexnet::conv_forward", _backward, setup_context=_setup)
    # Under autocast the convolution runs in bf16, as torch's does (the fp32 weights are cast; their gradients cast back).
    for device in ("cpu", "cuda"):
        torch.library.register_autocast("repro_alexnet::conv_forward", device, torch.bfloat16)
    no_double_backward("conv_backward_data", "conv_backward_weight")


# ----------------------------------------------------------------------------- layers (model.ops.conv, model.ops.fc)


class Conv2d(nn.Conv2d):
    """``model.ops.conv=custom``: nn.Conv2d's parameters (so its checkpoints), computed by the
    implicit-GEMM kernels; a ReLU after it runs in the kernel's epilogue (``forward_relu``, used by
    ``alexnet2012/ops/fusion.py``). Square kernels, zero padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 groups: int = 1):
        for name, value in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
            if not isinstance(value, int):
                raise ValueError(f"custom conv: {name} must be one int (square, the same both ways), got {value!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)
        ensure_built()

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return conv2d(x, weight, bias, self.stride[0], self.padding[0], self.groups)

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        """relu(conv(x) + bias) in one kernel."""
        return conv2d(x, self.weight, self.bias, self.stride[0], self.padding[0], self.groups, relu=True)


class Linear(nn.Linear):
    """``model.ops.fc=custom``: nn.Linear's parameters, computed by the convolution kernels as a
    1x1 convolution of a 1x1 map (M = outputs, N = batch, K = inputs: the same implicit GEMM);
    a ReLU after it runs in the epilogue."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        ensure_built()

    def _linear(self, x: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"custom fc: input must be [N, {self.in_features}], got {tuple(x.shape)}")
        y = conv2d(x[:, :, None, None], self.weight[:, :, None, None], bias, 1, 0, 1, relu)
        return y.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, self.bias, False)

    def forward_without_bias(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, None, False)

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, self.bias, True)

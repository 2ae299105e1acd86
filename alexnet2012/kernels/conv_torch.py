"""The "torch" convolution layer (model.ops.conv=torch): nn.Conv2d's parameters and function,
computed in whichever formulation is fast on the device it runs on (issue 22).

    "direct"       F.conv2d on the input as given: what the layer ran before (nn.Conv2d).
    "cpu"          on the CPU, measured faster there (bench/alexnet_step.py):
                   - activations in channels_last (NHWC) memory order: oneDNN's convolutions run
                     1.0-1.3x (conv1's forward 1.6x) and torch's max pooling ~4x faster on it than
                     on NCHW, and the order passes on to the ReLU, LRN and pooling that follow;
                   - a strided convolution with groups=1 (conv1: 11x11 stride 4 on 3 maps) gets
                     its weight gradient by space-to-depth: oneDNN's strided weight gradient is
                     ~5x slower than its forward; the same sums as a stride-1 convolution over
                     the s x s phases of the input take about as long as the forward.
                   (Under autocast the strided layer runs as F.conv2d: its bf16 gradient is autocast's.)
                   The grouped layers (conv2, conv4, conv5) stay one grouped convolution: one
                     convolution per group and the dense convolution with the connectivity mask
                     measured slower (channels_last, batch 128, fwd + bwd on 2 Zen 5 cores: 0.65-0.7x
                     and 0.25-0.55x the grouped speed).
    "auto"         "cpu" on the CPU, "direct" elsewhere (cuDNN picks its own algorithms).

Every formulation is the same function: only the memory order and the order of the fp32
sums differ (tests/alexnet2012/kernels/test_conv_torch.py: values and gradients against
"direct", and in float64 to 1e-12).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

FORMULATIONS = ("auto", "direct", "cpu")


def space_to_depth(x: torch.Tensor, s: int) -> torch.Tensor:
    """(N, C, s*h, s*w) -> (N, C*s*s, h, w): channel (c, i, j) holds the pixels at rows i mod s, columns j mod s."""
    n, c, hs, ws = x.shape
    x = x.reshape(n, c, hs // s, s, ws // s, s).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * s * s, hs // s, ws // s)


def weight_grad_space_to_depth(grad_y: torch.Tensor, x: torch.Tensor, kernel: int, stride: int,
                               padding: int) -> torch.Tensor:
    """dL/dw of y = conv2d(x, w, stride, padding) (groups=1, square), as the weight gradient of a
    stride-1 convolution: with the kernel zero-padded to K = ceil(k/s)*s and the padded input cut
    into its s*s phases (``space_to_depth``), y = conv2d(s2d(x), s2d(w)) with a (K/s)x(K/s) kernel.
    The gradient of the padding taps is dropped; the others are the same sums, in another order."""
    s, k = stride, kernel
    big = -(-k // s) * s  # K: the kernel rounded up to a multiple of the stride
    oh, ow = grad_y.shape[2], grad_y.shape[3]
    # Rows/columns the output reads: (o-1)*s + K from the padded input (pad or crop its far edge).
    bottom = (oh - 1) * s + big - x.shape[2] - padding
    right = (ow - 1) * s + big - x.shape[3] - padding
    xs = space_to_depth(F.pad(x, (padding, right, padding, bottom)), s)
    ks = big // s
    grad_ws = torch.ops.aten.convolution_backward(
        grad_y, xs, grad_y.new_empty(grad_y.shape[1], xs.shape[1], ks, ks), None,  # the weight: its shape only
        [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [False, True, False])[1]
    o, c = grad_y.shape[1], x.shape[1]
    grad_w = grad_ws.reshape(o, c, s, s, ks, ks).permute(0, 1, 4, 2, 5, 3).reshape(o, c, big, big)
    return grad_w[:, :, :k, :k]


class _StridedConvS2DGrad(torch.autograd.Function):
    """conv2d forward as oneDNN runs it; weight gradient by ``weight_grad_space_to_depth``."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, padding: int):
        ctx.save_for_backward(x, weight)
        ctx.args = (stride, padding)
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.args
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = torch.ops.aten.convolution_backward(
                grad_y, x, weight, None, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1,
                [True, False, False])[0]
        if need_w:
            grad_w = weight_grad_space_to_depth(grad_y, x, weight.shape[2], stride, padding)
        if need_b and ctx.has_bias:
            grad_b = grad_y.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


class Conv2d(nn.Conv2d):
    """``model.ops.conv=torch``: nn.Conv2d (same parameters, so the same checkpoints and parameter
    counts), run in the formulation chosen for the input's device (module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 groups: int = 1, formulation: str = "auto"):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)
        if formulation not in FORMULATIONS:
            raise ValueError(f"conv formulation must be one of {FORMULATIONS}, got {formulation!r}")
        self.formulation = formulation

    def resolved(self, device: torch.device) -> str:
        """The formulation this layer runs on ``device``."""
        if self.formulation == "auto":
            return "cpu" if device.type == "cpu" else "direct"
        return self.formulation

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.resolved(x.device) == "direct":
            return super()._conv_forward(x, weight, bias)
        x = x.contiguous(memory_format=torch.channels_last)  # a no-op after the first layer
        (stride, other_stride), (padding, other_padding), (k, other_k) = self.stride, self.padding, self.kernel_size
        s2d = (self.groups == 1 and stride > 1 and stride == other_stride and padding == other_padding
               and k == other_k and self.dilation == (1, 1) and self.padding_mode == "zeros"
               and isinstance(padding, int) and not torch.is_autocast_enabled(x.device.type))
        if s2d:
            return _StridedConvS2DGrad.apply(x, weight, bias, stride, padding)
        return super()._conv_forward(x, weight, bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, formulation={self.formulation}"

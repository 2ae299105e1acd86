"""The hand-written kernels as layers, for the ops seam's "custom" implementations.

Each module has the same constructor arguments and the same (parameter-free)
state as its "torch" counterpart in ``alexnet2012/ops/torch_ops.py``, so a model
switches implementation by config and keeps its checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from alexnet2012.ops.torch_ops import LocalResponseNorm

from . import ops


class Conv2d(nn.Conv2d):
    """nn.Conv2d's parameters (so its checkpoints), computed by the implicit-GEMM
    kernels; a ReLU after it runs in the kernel's epilogue (``forward_relu``,
    used by ``alexnet2012/ops/fusion.py``). Square kernels, zero padding."""

    fuses_relu = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 groups: int = 1):
        for name, value in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
            if not isinstance(value, int):
                raise ValueError(f"custom conv: {name} must be one int (square, the same both ways), got {value!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups)

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return ops.conv2d(x, weight, bias, self.stride[0], self.padding[0], self.groups)

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        """relu(conv(x) + bias) in one kernel."""
        return ops.conv2d(x, self.weight, self.bias, self.stride[0], self.padding[0], self.groups, relu=True)


class Linear(nn.Linear):
    """nn.Linear's parameters, computed by the convolution kernels as a 1x1
    convolution of a 1x1 map (M = outputs, N = batch, K = inputs: the same
    implicit GEMM); a ReLU after it runs in the epilogue."""

    fuses_relu = True

    def _linear(self, x: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"custom fc: input must be [N, {self.in_features}], got {tuple(x.shape)}")
        y = ops.conv2d(x[:, :, None, None], self.weight[:, :, None, None], bias, 1, 0, 1, relu)
        return y.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, self.bias, False)

    def forward_without_bias(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, None, False)

    def forward_relu(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, self.bias, True)


class LRN(LocalResponseNorm):
    """The paper's local response normalisation, per channel group, in one kernel pass
    (the torch implementation's arguments and checks, the kernel's forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.lrn(x, self.size, self.alpha, self.beta, self.k, self.groups)


class MaxPool(nn.Module):
    """Max pooling with an argmax-gather backward (deterministic with overlapping windows)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2, padding: int = 0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.max_pool(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class BiasReLU(nn.Module):
    """ReLU that also adds the previous layer's bias (see ``alexnet2012/ops/fusion.py``); after a
    custom conv or fc layer the ReLU runs in that layer's epilogue instead."""

    fuses_bias = True
    is_relu = True  # a convolution that fuses ReLU may take its place

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if bias is None:  # used on its own: a plain ReLU
            bias = torch.zeros(x.shape[1], dtype=torch.float32, device=x.device)
        return ops.bias_relu(x, bias)


class Dropout(nn.Module):
    """Inverted dropout with a counter-based mask.

    Each call draws a 63-bit seed from torch's default (CPU) generator, so a run
    seeded with ``torch.manual_seed`` repeats its masks, and the loop's
    checkpoints (which save that generator) resume them exactly. The draw is a
    Python int: under ``torch.compile`` it is a graph break, not a recompile.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        seed = int(torch.randint(0, 2**63 - 1, ()))
        return ops.dropout(x, self.p, seed)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class CrossEntropy(nn.Module):
    """Mean softmax cross-entropy over the batch (fp32 loss)."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ops.softmax_cross_entropy(logits, labels)

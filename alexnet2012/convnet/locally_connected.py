"""A locally connected layer: a convolution whose filters are not shared across positions.

cuda-convnet's ``type=local`` (used by ``layers-conv-local-11pct``): every output
position (module) l = (i, j) has its own filter bank W_l [out, in, k, k] and its
own bias b[o, i, j]:

    y[n, o, i, j] = b[o, i, j] + sum_{c, u, v} W_{(i,j)}[o, c, u, v] * x_pad[n, c, i*s + u, j*s + v]

with x zero-padded by ``padding`` on each side. Implemented as unfold (im2col)
and one batched contraction; ``reference`` in the tests is the explicit loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocallyConnected2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, in_size: int | tuple[int, int], kernel_size: int,
                 stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        h, w = (in_size, in_size) if isinstance(in_size, int) else in_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size, self.kernel_size, self.stride, self.padding = (h, w), kernel_size, stride, padding
        oh, ow = (h + 2 * padding - kernel_size) // stride + 1, (w + 2 * padding - kernel_size) // stride + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"a {h}x{w} input is smaller than the {kernel_size}x{kernel_size} filter (padding {padding})")
        self.out_size = (oh, ow)
        # weight[l, o, c*k*k]: position l's filters, flattened like unfold's columns.
        self.weight = nn.Parameter(torch.empty(oh * ow, out_channels, in_channels * kernel_size * kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels, oh, ow)) if bias else None
        nn.init.normal_(self.weight, 0.0, 0.01)

    def forward_without_bias(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != (self.in_channels, *self.in_size):
            raise ValueError(f"LocallyConnected2d expects [N, {self.in_channels}, {self.in_size[0]}, {self.in_size[1]}], "
                             f"got {list(x.shape)}")
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # [N, c*k*k, L]
        y = torch.einsum("njl,loj->nol", cols, self.weight)
        return y.reshape(x.shape[0], self.out_channels, *self.out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.forward_without_bias(x)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, in_size={self.in_size}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, out_size={self.out_size}")

"""Layer + activation, fused where the activation implementation can take the bias.

An activation module with ``fuses_bias = True`` (the custom kernels' BiasReLU)
computes relu(z + b) itself, so the layer before it runs without its bias and
the add happens inside the activation's single pass. The layer keeps its
``bias`` parameter, so checkpoints are the same with and without fusion.

A layer with ``fuses_relu = True`` (the custom convolution and fc layer) goes further: a
ReLU after it (torch's or the custom one) runs in the layer's own epilogue,
relu(conv(x) + b) in one kernel, whatever ``model.ops.activation`` says.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def without_bias(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` minus its bias: the linear part only."""
    if hasattr(layer, "forward_without_bias"):
        return layer.forward_without_bias(x)
    if isinstance(layer, nn.Conv2d):
        return layer._conv_forward(x, layer.weight, None)
    if isinstance(layer, nn.Linear):
        return F.linear(x, layer.weight)
    raise TypeError(f"cannot split the bias off {type(layer).__name__} (give it forward_without_bias)")


def is_relu(activation: nn.Module) -> bool:
    return isinstance(activation, nn.ReLU) or getattr(activation, "is_relu", False)


def activate(layer: nn.Module, activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``activation(layer(x))``, with the ReLU or the bias handed to a layer or activation that fuses it."""
    if getattr(layer, "fuses_relu", False) and is_relu(activation):
        return layer.forward_relu(x)
    bias = getattr(layer, "bias", None)
    # Only a per-channel bias fuses (a locally connected layer's is per position).
    if getattr(activation, "fuses_bias", False) and bias is not None and bias.dim() == 1:
        return activation(without_bias(layer, x), layer.bias)
    return activation(layer(x))

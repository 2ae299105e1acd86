"""Layer + activation, fused where the activation implementation can take the bias.

An activation module with ``fuses_bias = True`` (the custom kernels' BiasReLU)
computes relu(z + b) itself, so the layer before it runs without its bias and
the add happens inside the activation's single pass. The layer keeps its
``bias`` parameter, so checkpoints are the same with and without fusion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def without_bias(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` minus its bias: the linear part only."""
    if isinstance(layer, nn.Conv2d):
        return layer._conv_forward(x, layer.weight, None)
    if isinstance(layer, nn.Linear):
        return F.linear(x, layer.weight)
    if hasattr(layer, "forward_without_bias"):
        return layer.forward_without_bias(x)
    raise TypeError(f"cannot split the bias off {type(layer).__name__} (give it forward_without_bias)")


def activate(layer: nn.Module, activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``activation(layer(x))``, with the bias handed to a bias-fusing activation."""
    bias = getattr(layer, "bias", None)
    # Only a per-channel bias fuses (a locally connected layer's is per position).
    if getattr(activation, "fuses_bias", False) and bias is not None and bias.dim() == 1:
        return activation(without_bias(layer, x), layer.bias)
    return activation(layer(x))

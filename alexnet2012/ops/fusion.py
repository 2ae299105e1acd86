"""Layer + activation, fused where the custom kernels can.

Two fusions, both from the custom implementations (alexnet2012/kernels/):

- a custom conv or fc layer (``conv.Conv2d``, ``conv.Linear``) runs a ReLU after
  it (torch's or the custom one) in its own epilogue: relu(conv(x) + b) in one
  kernel, whatever ``model.ops.activation`` says;
- otherwise the custom ReLU (``bias_relu.BiasReLU``) takes the layer's
  per-channel bias: the layer runs without it and the add happens inside the
  ReLU's single pass.

The layer keeps its ``bias`` parameter either way, so checkpoints are the same
with and without fusion. On the CPU torch's ReLU after torch's conv or fc layer runs
in place on the layer's output. Any other pair runs as ``activation(layer(x))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alexnet2012.kernels.bias_relu import BiasReLU
from alexnet2012.kernels.conv import Conv2d, Linear

RELU_EPILOGUE = (Conv2d, Linear)  # layers whose kernel can apply the ReLU that follows them
RELUS = (nn.ReLU, BiasReLU)
IN_PLACE_RELU = (nn.Conv2d, nn.Linear)  # torch's layers (a custom one fuses the ReLU above): outputs not saved


def without_bias(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` minus its bias: the linear part only."""
    if isinstance(layer, Linear):  # on the custom kernels (F.linear would use torch's)
        return layer.forward_without_bias(x)
    if isinstance(layer, nn.Conv2d):  # torch's or the custom one (its _conv_forward is the kernel)
        return layer._conv_forward(x, layer.weight, None)
    if isinstance(layer, nn.Linear):
        return F.linear(x, layer.weight)
    raise TypeError(f"cannot split the bias off {type(layer).__name__}")


def activate(layer: nn.Module, activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``activation(layer(x))``, with the ReLU or the bias handed to a layer or activation that fuses it."""
    if isinstance(layer, RELU_EPILOGUE) and isinstance(activation, RELUS):
        return layer.forward_relu(x)
    bias = getattr(layer, "bias", None)
    # Only a per-channel bias fuses (a locally connected layer's is per position).
    if isinstance(activation, BiasReLU) and bias is not None and bias.dim() == 1:
        return activation(without_bias(layer, x), bias)
    if type(activation) is nn.ReLU and isinstance(layer, IN_PLACE_RELU) and x.device.type == "cpu":
        # The layer's backward needs its input and weight, not its output: the ReLU may overwrite it,
        # which on the CPU saves a fresh (page-faulted) buffer and a pass per layer. Same values.
        return F.relu_(layer(x))
    return activation(layer(x))

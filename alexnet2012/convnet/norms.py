"""cuda-convnet's response normalisations, with its constants (src/cudaconv2/conv_util.cu, layer.py).

Both divide ``scale`` by the number of terms in the window and add 1 (the
AlexNet paper's LRN adds k = 2 and does not divide alpha):

    cross-map (``crossMap=1``):  b_f = a_f * (1 + scale/size * sum_{g in W(f)} a_g^2)^(-pow),
        W(f) = channels f - size/2 .. f - size/2 + size - 1, clipped to the layer;
    same map (``type=rnorm``):   b_xy = a_xy * (1 + scale/size^2 * sum_{(u,v) in W(x,y)} a_uv^2)^(-pow),
        W(x, y) = the size x size square from (x - size/2, y - size/2), clipped to the image.

The cross-map form is the paper's LRN with k=1, alpha=scale/size, n=size, so
it is built through the ops seam (one LRN implementation: torch or the
custom kernel). The same-map form is a window sum by pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alexnet2012.ops import make


def cross_map_norm(size: int, scale: float, power: float, impl: str = "torch") -> nn.Module:
    if size % 2 == 0:
        raise ValueError(f"cross-map norm: size must be odd (a centred window of channels), got {size}")
    return make("lrn", impl, size=size, alpha=scale / size, beta=power, k=1.0, groups=1)


class SameMapResponseNorm(nn.Module):
    """Normalisation by the squares in a size x size spatial window of the same map."""

    def __init__(self, size: int, scale: float, power: float):
        super().__init__()
        if size < 1:
            raise ValueError(f"same-map norm: size must be >= 1, got {size}")
        self.size, self.scale, self.power = size, scale, power

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = self.size // 2
        after = self.size - 1 - before
        # Zero padding adds nothing to a sum of squares: the clipped window's sum.
        padded = F.pad(x * x, (before, after, before, after))
        sums = F.avg_pool2d(padded, self.size, stride=1, divisor_override=1)
        return x * (1.0 + self.scale / self.size**2 * sums).pow(-self.power)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, pow={self.power}"

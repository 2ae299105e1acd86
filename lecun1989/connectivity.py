"""Which H1 feature maps each H2 map sees.

LeCun et al. 1989, section 5.1: "H2 ... each unit ... combines local information
coming from 8 of the 12 different feature maps in H1". The paper does not say
*which* 8, so the scheme is ours and named in the config (`model.h2_scheme`):

- ``three_groups`` (default): split the H1 maps into three equal groups
  A, B, C. The first third of the H2 maps sees A+B, the second B+C, the third
  A+C. Every H2 map sees 8 of 12 H1 maps and every H1 map feeds 8 of 12 H2
  maps, so the layer is balanced. Karpathy's lecun1989-repro uses the same
  grouping (written there as three convolutions over channel slices).
- ``full``: every H2 map sees every H1 map (a modern dense convolution; not the
  paper; 12*12*25 weights instead of 12*8*25).
"""

from __future__ import annotations

import torch

SCHEMES = ("three_groups", "full")


def h2_input_maps(h1_maps: int, h2_maps: int, scheme: str) -> torch.Tensor:
    """Return a [h2_maps, k] long tensor: row j lists the H1 maps H2 map j reads."""
    if scheme == "full":
        return torch.arange(h1_maps).repeat(h2_maps, 1)
    if scheme != "three_groups":
        raise ValueError(f"unknown H2 connectivity scheme {scheme!r}; choose one of {SCHEMES}")
    if h1_maps % 3 or h2_maps % 3:
        raise ValueError(
            f"h2_scheme=three_groups needs H1 and H2 map counts divisible by 3, got {h1_maps} and {h2_maps}"
        )
    g = h1_maps // 3
    groups = [torch.arange(i * g, (i + 1) * g) for i in range(3)]
    # (A,B), (B,C), (A,C): each H1 group is read by two of the three H2 groups.
    pairs = [(0, 1), (1, 2), (0, 2)]
    rows = []
    per_group = h2_maps // 3
    for a, b in pairs:
        row = torch.cat([groups[a], groups[b]])
        rows.extend([row] * per_group)
    return torch.stack(rows)


def dense_mask(inputs: torch.Tensor, h1_maps: int) -> torch.Tensor:
    """The same connectivity as a [h2_maps, h1_maps] 0/1 float mask."""
    mask = torch.zeros(inputs.shape[0], h1_maps)
    mask.scatter_(1, inputs, 1.0)
    return mask

"""cuda-convnet's response normalisations against direct transcriptions of its kernels' formulas."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.convnet.norms import SameMapResponseNorm, cross_map_norm


def same_map_formula(a, size, scale, power):
    """b_xy = a_xy (1 + scale/size^2 * sum over the clipped size x size window from (x-size/2, y-size/2))^-pow."""
    n, c, h, w = a.shape
    out = torch.empty_like(a)
    for y in range(h):
        for x in range(w):
            y0, x0 = y - size // 2, x - size // 2
            win = a[:, :, max(y0, 0): min(y0 + size, h), max(x0, 0): min(x0 + size, w)]
            out[:, :, y, x] = a[:, :, y, x] * (1 + scale / size**2 * (win**2).sum((2, 3))) ** -power
    return out


def cross_map_formula(a, size, scale, power):
    """b_f = a_f (1 + scale/size * sum_{g = f-size/2 .. f-size/2+size-1, clipped} a_g^2)^-pow."""
    out = torch.empty_like(a)
    channels = a.shape[1]
    for f in range(channels):
        g0 = f - size // 2
        win = a[:, max(g0, 0): min(g0 + size, channels)]
        out[:, f] = a[:, f] * (1 + scale / size * (win**2).sum(1)) ** -power
    return out


@pytest.mark.parametrize("size", [3, 4, 5])
def test_same_map_norm_matches_the_formula(size):
    torch.manual_seed(size)
    a = torch.randn(2, 3, 7, 6, dtype=torch.float64) * 30
    b = SameMapResponseNorm(size, 5e-3, 0.75)(a)
    torch.testing.assert_close(b, same_map_formula(a, size, 5e-3, 0.75), rtol=1e-12, atol=1e-12)
    assert (b - a).abs().max() > 1.0  # the normalisation bites at this scale


@pytest.mark.parametrize("impl", ["torch", "custom"])
def test_cross_map_norm_is_the_seam_lrn_with_k_1(impl):
    torch.manual_seed(0)
    dtype = torch.float64 if impl == "torch" else torch.float32  # the kernels take fp32/bf16
    a = torch.randn(2, 12, 4, 5, dtype=dtype) * 20
    b = cross_map_norm(5, 0.01, 0.75, impl)(a)
    torch.testing.assert_close(b.double(), cross_map_formula(a.double(), 5, 0.01, 0.75), rtol=2e-6, atol=1e-6)
    with pytest.raises(ValueError, match="size must be odd"):
        cross_map_norm(4, 0.01, 0.75)

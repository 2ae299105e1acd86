"""The dropout kernel against its reference (the Philox stream recomputed in int64 tensors): the
exact mask, its reuse in backward, statistics, seeds, non-contiguous inputs; and Philox4x32-10's
published known answers, on the kernels' C++ and on the reference."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.dropout import dropout, dropout_keep_mask, dropout_reference, philox4x32_10, \
    philox4x32_10_reference

from .conftest import DEVICES, DTYPES, grads, leaf, noncontiguous


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.5, 0.1, 0.9])
def test_dropout_mask_is_the_philox_stream_and_backward_reuses_it(device, dtype, p):
    x = torch.randn(7, 13, 5, device=device).to(dtype)  # 455 elements: a ragged last group of 4
    seed = 0x0123456789ABCDEF
    out, (dx,), weight = grads(lambda t: dropout(t, p, seed), leaf(x))
    assert torch.equal(out, dropout_reference(x, p, seed))
    keep = dropout_keep_mask(x.numel(), p, seed).view(x.shape).to(device)
    assert torch.equal(dx, dropout_reference(weight.to(dtype), p, seed))


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_statistics_and_seeds(device):
    x = torch.ones(400_000, device=device)
    a, b, c = dropout(x, 0.5, 1), dropout(x, 0.5, 1), dropout(x, 0.5, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    kept = (a != 0).double().mean().item()
    assert abs(kept - 0.5) < 5 * (0.25 / x.numel()) ** 0.5  # 5 sigma of a binomial
    assert set(a.unique().tolist()) == {0.0, 2.0}  # inverted dropout: kept values scaled by 1/(1-p)
    # Neighbouring masks are independent (no visible correlation between i and i+1).
    m = (a != 0).double()
    assert abs(torch.corrcoef(torch.stack([m[:-1], m[1:]]))[0, 1].item()) < 0.01
    assert torch.equal(dropout(x, 0.0, 5), x) and not dropout(x, 1.0, 5).any()
    y = dropout(noncontiguous(x[:1000].view(10, 100)), 0.5, 1)
    assert torch.equal(y, a[:1000].view(10, 100))  # the mask follows the logical (contiguous) order


def test_philox_known_answers():
    # Random123's published known-answer vectors for Philox4x32-10.
    cases = [
        ((0, 0, 0, 0), (0, 0), [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    ]
    for counter, key, expected in cases:
        assert philox4x32_10(counter, key) == expected  # the kernels' C++ (shared with the GPU)
        words = philox4x32_10_reference([torch.tensor([c]) for c in counter], key)  # plain PyTorch
        assert [int(w) for w in words] == expected

"""The max-pooling kernel against torch's (its reference): values, gradients with ties, NaN,
odd shapes, padding, non-contiguous inputs, fp32 and bf16; on the CPU path here and on the GPU
where one is present."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.maxpool import max_pool, max_pool_reference

from .conftest import DEVICES, DTYPES, close, grads, leaf, noncontiguous


POOL_CASES = [  # (shape, kernel, stride, padding)
    ((2, 3, 13, 13), 3, 2, 0),  # pool5 in the paper
    ((2, 5, 27, 27), 3, 2, 0),  # pool2
    ((1, 2, 10, 9), 3, 2, 0),  # even / odd sizes
    ((2, 3, 9, 11), 3, 1, 1),  # stride 1, padded
    ((2, 2, 8, 8), 2, 2, 0),  # non-overlapping
    ((1, 1, 7, 7), 5, 3, 2),
    ((1, 2, 5, 6), 2, 1, 1),  # the output larger than the input (6x7 from 5x6): the 32-bit check covers both
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel,stride,padding", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool_matches_torch_including_ties(device, dtype, shape, kernel, stride, padding, ties):
    g = torch.Generator().manual_seed(7)
    # Ties (integers 0..2) check that gradients go to the same input as torch's.
    x = (torch.randint(0, 3, shape, generator=g).float() if ties else torch.randn(shape, generator=g)).to(device, dtype)
    out, (dx,), weight = grads(lambda t: max_pool(t, kernel, stride, padding), leaf(x))
    ref, (dx_ref,), _ = grads(lambda t: max_pool_reference(t, kernel, stride, padding), leaf(x), weight=weight)
    assert torch.equal(out, ref)  # a max is exact in any dtype
    close(dx, dx_ref, dtype)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool_propagates_nan_and_takes_noncontiguous_input(device):
    x = torch.randn(2, 3, 7, 7, device=device)
    x[0, 1, 2, 2] = float("nan")
    y = max_pool(noncontiguous(x), 3, 2)
    torch.testing.assert_close(y, max_pool_reference(x, 3, 2), equal_nan=True)
    assert y[0, 1].isnan().sum() == 4  # (2, 2) lies in four overlapping windows

"""The bias + ReLU kernel against its reference: values, both gradients (the split bias sum),
odd shapes, non-contiguous inputs, fp32 and bf16; on the CPU path here and on the GPU where one is present."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.bias_relu import bias_relu, bias_relu_reference

from .conftest import DEVICES, DTYPES, close, grads, leaf, noncontiguous


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 6, 5, 7), (8, 33), (2, 3, 1, 1), (3, 5, 11)])
def test_bias_relu_matches_add_then_relu(device, dtype, shape):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=g).to(device, dtype)
    bias = torch.randn(shape[1], generator=g).to(device)  # fp32 bias, as a bf16-autocast layer's
    out, (dx, db), weight = grads(bias_relu, leaf(x), leaf(bias))
    ref, (dx_ref, db_ref), _ = grads(bias_relu_reference, leaf(x.double()), leaf(bias.double()), weight=weight.double())
    assert out.dtype == dtype and db.dtype == torch.float32
    close(out, ref, dtype)
    close(dx, dx_ref, dtype)
    close(db, db_ref, dtype, scale=10)  # a sum of up to 140 terms (each rounded to bf16 in the bf16 case)
    assert 0.2 < (out > 0).float().mean() < 0.8


@pytest.mark.parametrize("device", DEVICES)
def test_bias_relu_large_bias_gradient_and_noncontiguous(device):
    # Conv1's shape class: many elements per channel, so the GPU splits the sum.
    x = torch.randn(16, 6, 31, 29, device=device)
    bias = torch.randn(6, device=device)
    out, (dx, db), weight = grads(bias_relu, leaf(noncontiguous(x)), leaf(bias))
    ref, (_, db_ref), _ = grads(bias_relu_reference, leaf(x.double()), leaf(bias.double()), weight=weight.double())
    close(out, ref, torch.float32)
    torch.testing.assert_close(db.double(), db_ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_gradient_passes_through_nan_like_torch(device, dtype):
    # torch.relu keeps a NaN and its backward (threshold_backward: y <= 0 ? 0 : g) passes the
    # gradient there; the kernel used to zero it (y > 0 ? g : 0), silently hiding where the NaN came from.
    x = torch.tensor([[float("nan"), -1.0, 2.0, float("nan")], [0.5, float("nan"), -3.0, 0.0]])
    x = x.view(2, 2, 2).to(device, dtype)  # [N, C, S]
    bias = torch.tensor([0.0, 1.0], device=device)
    out, (dx, db), weight = grads(bias_relu, leaf(x), leaf(bias))
    ref, (dx_ref, db_ref), _ = grads(bias_relu_reference, leaf(x.double()), leaf(bias.double()),
                                     weight=weight.double())
    assert out.isnan().sum() == 3 and dx_ref.isfinite().all()
    torch.testing.assert_close(dx.double().cpu(), dx_ref.cpu(), rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(db.double().cpu(), db_ref.cpu(), rtol=1.6e-2, atol=1e-2)
    nan = x.isnan()
    torch.testing.assert_close(dx[nan].double().cpu(), weight.to(dtype)[nan].double().cpu())  # g itself, not 0

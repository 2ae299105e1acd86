"""The softmax cross-entropy kernel against torch's cross-entropy (its reference): loss and
gradient, 1 to 1000 classes, large logits, fp32 and bf16, non-contiguous logits, bad labels;
on the CPU path here and on the GPU where one is present."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.softmax_xent import softmax_cross_entropy, softmax_cross_entropy_reference

from .conftest import DEVICES, DTYPES, close, grads, leaf, noncontiguous


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,classes,spread", [(7, 10, 3.0), (128, 1000, 5.0), (5, 3, 60.0), (1, 1, 1.0)])
def test_softmax_cross_entropy_matches_torch(device, dtype, rows, classes, spread):
    g = torch.Generator().manual_seed(rows * classes)
    logits = (torch.randn(rows, classes, generator=g) * spread).to(device, dtype)
    labels = torch.randint(0, classes, (rows,), generator=g).to(device)
    loss, (dz,), weight = grads(lambda z: softmax_cross_entropy(z, labels), leaf(logits))
    ref, (dz_ref,), _ = grads(lambda z: softmax_cross_entropy_reference(z, labels), leaf(logits.double()),
                              weight=weight.double())
    assert loss.dtype == torch.float32 and loss.dim() == 0
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    close(dz, dz_ref, dtype, scale=max(dz_ref.abs().max().item(), 1e-3))


def test_softmax_cross_entropy_noncontiguous_and_bad_labels():
    logits, labels = torch.randn(6, 10), torch.tensor([0, 9, 3, 3, 2, 1])
    torch.testing.assert_close(softmax_cross_entropy(noncontiguous(logits), labels),
                               softmax_cross_entropy_reference(logits, labels))
    with pytest.raises(RuntimeError, match=r"label 10 of row 1 is outside \[0, 10\)"):
        softmax_cross_entropy(logits, torch.tensor([0, 10, 3, 3, 2, 1]))


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=DEVICES[1].marks)])
def test_softmax_cross_entropy_bad_label_on_gpu_is_nan(device):
    # The GPU cannot raise without a host sync: the row's loss and gradient are NaN.
    logits = torch.randn(3, 5, device=device, requires_grad=True)
    loss = softmax_cross_entropy(logits, torch.tensor([0, 7, 1], device=device))
    loss.backward()
    assert loss.isnan() and logits.grad[1].isnan().all() and not logits.grad[0].isnan().any()

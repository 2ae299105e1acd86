"""Every kernel against its plain-PyTorch reference: values and gradients,
odd shapes, non-contiguous inputs, fp32 and bf16; on the CPU path here and
on the GPU where one is present."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alexnet2012.kernels import ops, reference
from alexnet2012.ops.reference import lrn_reference

from .conftest import DEVICES, DTYPES, close, noncontiguous


def leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_()


def grads(fn, *inputs: torch.Tensor, weight: torch.Tensor | None = None):
    """Output of fn(*inputs) and the gradients of sum(output * weight) w.r.t. the inputs."""
    out = fn(*inputs)
    weight = torch.randn_like(out.float()) if weight is None else weight
    (out.float() * weight).sum().backward()
    return out, [i.grad for i in inputs], weight


# ----------------------------------------------------------------------------- LRN

LRN_CASES = [  # (shape, size, alpha, groups): the paper's constants, big alpha, every unrolled n, generic n, towers
    ((2, 12, 5, 7), 5, 1e-4, 1),
    ((3, 12, 5, 7), 5, 1e-2, 2),
    ((2, 10, 3, 3), 1, 1e-2, 1),
    ((2, 9, 4, 3), 3, 1e-2, 3),
    ((1, 16, 6, 5), 7, 1e-3, 2),
    ((2, 13, 3, 5), 9, 1e-3, 1),
    ((2, 14, 3, 2), 11, 1e-3, 2),  # n > 9: the generic path
    ((2, 3, 4, 4), 7, 1e-2, 1),  # window wider than the group
    ((2, 6, 1, 1), 5, 1e-2, 1),  # after a fully connected layer: 1x1 "maps"
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size,alpha,groups", LRN_CASES)
def test_lrn_matches_the_paper_formula(device, dtype, shape, size, alpha, groups):
    g = torch.Generator().manual_seed(hash((shape, size)) % 2**31)
    # Activations of tens, so alpha * sum matters (as after conv1's ReLU).
    x = (torch.randn(shape, generator=g) * 20).to(device, dtype)
    beta, k = 0.75, 2.0
    out, (dx,), weight = grads(lambda t: ops.lrn(t, size, alpha, beta, k, groups), leaf(x))
    x64 = leaf(x.double().cpu())
    ref, (dx64,), _ = grads(lambda t: lrn_reference(t, size, alpha, beta, k, groups), x64, weight=weight.double().cpu())
    assert out.dtype == dtype and out.device.type == device
    close(out, ref, dtype, scale=ref.abs().max().item())
    close(dx, dx64, dtype, scale=dx64.abs().max().item())
    # The normalisation bites: this is not just x / k^beta.
    if alpha >= 1e-2:
        assert (ref - x64 / k**beta).abs().max() > 0.1


@pytest.mark.parametrize("device", DEVICES)
def test_lrn_noncontiguous_input_and_torch_lrn_reference(device):
    x = torch.rand(4, 96, 9, 11, device=device) * 30
    y = ops.lrn(noncontiguous(x), 5, 1e-4, 0.75, 2.0, 2)
    close(y, reference.lrn(x.double(), 5, 1e-4, 0.75, 2.0, 2), torch.float32, scale=y.abs().max().item())


# ----------------------------------------------------------------------------- max pooling

POOL_CASES = [  # (shape, kernel, stride, padding)
    ((2, 3, 13, 13), 3, 2, 0),  # pool5 in the paper
    ((2, 5, 27, 27), 3, 2, 0),  # pool2
    ((1, 2, 10, 9), 3, 2, 0),  # even / odd sizes
    ((2, 3, 9, 11), 3, 1, 1),  # stride 1, padded
    ((2, 2, 8, 8), 2, 2, 0),  # non-overlapping
    ((1, 1, 7, 7), 5, 3, 2),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel,stride,padding", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool_matches_torch_including_ties(device, dtype, shape, kernel, stride, padding, ties):
    g = torch.Generator().manual_seed(7)
    # Ties (integers 0..2) check that gradients go to the same input as torch's.
    x = (torch.randint(0, 3, shape, generator=g).float() if ties else torch.randn(shape, generator=g)).to(device, dtype)
    out, (dx,), weight = grads(lambda t: ops.max_pool(t, kernel, stride, padding), leaf(x))
    ref, (dx_ref,), _ = grads(lambda t: F.max_pool2d(t, kernel, stride, padding), leaf(x), weight=weight)
    assert torch.equal(out, ref)  # a max is exact in any dtype
    close(dx, dx_ref, dtype)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool_propagates_nan_and_takes_noncontiguous_input(device):
    x = torch.randn(2, 3, 7, 7, device=device)
    x[0, 1, 2, 2] = float("nan")
    y = ops.max_pool(noncontiguous(x), 3, 2)
    torch.testing.assert_close(y, F.max_pool2d(x, 3, 2), equal_nan=True)
    assert y[0, 1].isnan().sum() == 4  # (2, 2) lies in four overlapping windows


# ----------------------------------------------------------------------------- bias + ReLU

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 6, 5, 7), (8, 33), (2, 3, 1, 1), (3, 5, 11)])
def test_bias_relu_matches_add_then_relu(device, dtype, shape):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=g).to(device, dtype)
    bias = torch.randn(shape[1], generator=g).to(device)  # fp32 bias, as a bf16-autocast layer's
    out, (dx, db), weight = grads(ops.bias_relu, leaf(x), leaf(bias))
    ref, (dx_ref, db_ref), _ = grads(reference.bias_relu, leaf(x.double()), leaf(bias.double()), weight=weight.double())
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
    out, (dx, db), weight = grads(ops.bias_relu, leaf(noncontiguous(x)), leaf(bias))
    ref, (_, db_ref), _ = grads(reference.bias_relu, leaf(x.double()), leaf(bias.double()), weight=weight.double())
    close(out, ref, torch.float32)
    torch.testing.assert_close(db.double(), db_ref, rtol=1e-5, atol=1e-3)


# ----------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.5, 0.1, 0.9])
def test_dropout_mask_is_the_philox_stream_and_backward_reuses_it(device, dtype, p):
    x = torch.randn(7, 13, 5, device=device).to(dtype)  # 455 elements: a ragged last group of 4
    seed = 0x0123456789ABCDEF
    out, (dx,), weight = grads(lambda t: ops.dropout(t, p, seed), leaf(x))
    assert torch.equal(out, reference.dropout(x, p, seed))
    keep = reference.dropout_keep_mask(x.numel(), p, seed).view(x.shape).to(device)
    assert torch.equal(dx, reference.dropout(weight.to(dtype), p, seed))


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_statistics_and_seeds(device):
    x = torch.ones(400_000, device=device)
    a, b, c = ops.dropout(x, 0.5, 1), ops.dropout(x, 0.5, 1), ops.dropout(x, 0.5, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    kept = (a != 0).double().mean().item()
    assert abs(kept - 0.5) < 5 * (0.25 / x.numel()) ** 0.5  # 5 sigma of a binomial
    assert set(a.unique().tolist()) == {0.0, 2.0}  # inverted dropout: kept values scaled by 1/(1-p)
    # Neighbouring masks are independent (no visible correlation between i and i+1).
    m = (a != 0).double()
    assert abs(torch.corrcoef(torch.stack([m[:-1], m[1:]]))[0, 1].item()) < 0.01
    assert torch.equal(ops.dropout(x, 0.0, 5), x) and not ops.dropout(x, 1.0, 5).any()
    y = ops.dropout(noncontiguous(x[:1000].view(10, 100)), 0.5, 1)
    assert torch.equal(y, a[:1000].view(10, 100))  # the mask follows the logical (contiguous) order


# ----------------------------------------------------------------------------- softmax cross-entropy

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,classes,spread", [(7, 10, 3.0), (128, 1000, 5.0), (5, 3, 60.0), (1, 1, 1.0)])
def test_softmax_cross_entropy_matches_torch(device, dtype, rows, classes, spread):
    g = torch.Generator().manual_seed(rows * classes)
    logits = (torch.randn(rows, classes, generator=g) * spread).to(device, dtype)
    labels = torch.randint(0, classes, (rows,), generator=g).to(device)
    loss, (dz,), weight = grads(lambda z: ops.softmax_cross_entropy(z, labels), leaf(logits))
    ref, (dz_ref,), _ = grads(lambda z: F.cross_entropy(z, labels), leaf(logits.double()), weight=weight.double())
    assert loss.dtype == torch.float32 and loss.dim() == 0
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    close(dz, dz_ref, dtype, scale=max(dz_ref.abs().max().item(), 1e-3))


def test_softmax_cross_entropy_noncontiguous_and_bad_labels():
    logits, labels = torch.randn(6, 10), torch.tensor([0, 9, 3, 3, 2, 1])
    torch.testing.assert_close(ops.softmax_cross_entropy(noncontiguous(logits), labels),
                               F.cross_entropy(logits, labels))
    with pytest.raises(RuntimeError, match=r"label 10 of row 1 is outside \[0, 10\)"):
        ops.softmax_cross_entropy(logits, torch.tensor([0, 10, 3, 3, 2, 1]))


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=DEVICES[1].marks)])
def test_softmax_cross_entropy_bad_label_on_gpu_is_nan(device):
    # The GPU cannot raise without a host sync: the row's loss and gradient are NaN.
    logits = torch.randn(3, 5, device=device, requires_grad=True)
    loss = ops.softmax_cross_entropy(logits, torch.tensor([0, 7, 1], device=device))
    loss.backward()
    assert loss.isnan() and logits.grad[1].isnan().all() and not logits.grad[0].isnan().any()

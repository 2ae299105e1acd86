"""The elementwise kernels' 32-bit index arithmetic and 16-byte runs (issue 23), on the CPU path,
which runs the same run functions as the GPU (csrc/common.cuh: a run is 16 bytes, 4 fp32 or 8 bf16
elements, one vector access where the tensors are aligned, else the same elements one by one):
runs that cross channel and row boundaries, ragged tails, unaligned views (the scalar path) against
aligned tensors (the vector path) bit for bit, and the refusal of tensors past the 32-bit offsets."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.bias_relu import bias_relu, bias_relu_reference
from alexnet2012.kernels.dropout import dropout, dropout_reference
from alexnet2012.kernels.library import OPS, ensure_built
from alexnet2012.kernels.softmax_xent import softmax_cross_entropy, softmax_cross_entropy_reference

from .conftest import DEVICES, DTYPES, close, grads, leaf


def unaligned(x: torch.Tensor) -> torch.Tensor:
    """The same values, contiguous, one element past a 16-byte boundary: the kernels' scalar path."""
    buf = torch.empty(x.numel() + 1, dtype=x.dtype, device=x.device)
    view = buf[1:].view(x.shape)
    view.copy_(x)
    assert view.is_contiguous() and view.data_ptr() % 16 != 0
    return view


def aligned(x: torch.Tensor) -> torch.Tensor:
    out = x.clone(memory_format=torch.contiguous_format)
    assert out.data_ptr() % 16 == 0
    return out


# [N, C, S...] shapes: S a multiple of both run lengths (the backward's contiguous runs), S = 1 (an fc
# layer: every run crosses channels), S odd (runs cross planes, as AlexNet's 55^2, 27^2, 13^2), ragged tails.
BIAS_SHAPES = [(3, 5, 4, 4), (5, 37), (2, 3, 13, 13), (3, 7, 3), (1, 2, 1, 1)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BIAS_SHAPES)
def test_bias_relu_runs_vector_and_scalar_paths_agree(device, dtype, shape):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(shape, generator=g).to(device, dtype)
    bias = torch.randn(shape[1], generator=g).to(device)
    weight = torch.randn(shape, generator=g).to(device)
    results = []
    for layout in (aligned, unaligned):
        xv = leaf(layout(x))
        bv = leaf(bias)
        out = bias_relu(xv, bv)
        (out.float() * weight).sum().backward()
        results.append((out, xv.grad, bv.grad))
    (out_a, dx_a, db_a), (out_u, dx_u, db_u) = results
    assert torch.equal(out_a, out_u) and torch.equal(dx_a, dx_u) and torch.equal(db_a, db_u)
    ref, (dx_ref, db_ref), _ = grads(bias_relu_reference, leaf(x.double()), leaf(bias.double()),
                                     weight=weight.double())
    close(out_a, ref, dtype)
    close(dx_a, dx_ref, dtype)
    close(db_a, db_ref, dtype, scale=10)


@pytest.mark.parametrize("device", DEVICES)
def test_relu_backward_directly_on_unaligned_saved_output(device):
    # The backward's own vector condition: y (saved by the forward) unaligned, dy aligned.
    g = torch.Generator().manual_seed(12)
    y = torch.randn(4, 6, 8, generator=g).relu().to(device)  # S = 8: contiguous runs of 4 and 8
    dy = torch.randn(4, 6, 8, generator=g).to(device)
    dx_a, db_a = OPS.bias_relu_backward(dy, aligned(y))
    dx_u, db_u = OPS.bias_relu_backward(dy, unaligned(y))
    assert torch.equal(dx_a, dx_u) and torch.equal(db_a, db_u)
    expected = torch.where(y > 0, dy, torch.zeros_like(dy))
    assert torch.equal(dx_a, expected)
    torch.testing.assert_close(db_a, expected.sum(dim=(0, 2)), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("numel", [1, 3, 4, 7, 8, 9, 455, 1000])
def test_dropout_runs_keep_the_philox_stream_on_both_paths(device, dtype, numel):
    # Runs of 4 (fp32) or 8 (bf16) elements draw one or two Philox quads: the stream of element i is
    # still the reference's (counter i / 4), whatever the run length, tail or alignment.
    x = torch.randn(numel, generator=torch.Generator().manual_seed(13)).to(device, dtype)
    seed = 0x5EADBEEF12345678  # both key words non-zero (an int64)
    a, u = dropout(aligned(x), 0.3, seed), dropout(unaligned(x), 0.3, seed)
    assert torch.equal(a, u) and torch.equal(a, dropout_reference(x, 0.3, seed))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,classes", [(3, 10), (2, 1000), (5, 3), (4, 8), (1, 1)])
def test_softmax_xent_backward_runs_cross_rows(device, dtype, rows, classes):
    # 10 and 3 classes: runs span rows (the label and lse change inside a run); 8: runs align with rows.
    g = torch.Generator().manual_seed(14)
    logits = (torch.randn(rows, classes, generator=g) * 3).to(device, dtype)
    labels = torch.randint(0, classes, (rows,), generator=g).to(device)
    grads_ = []
    for layout in (aligned, unaligned):
        z = leaf(layout(logits))
        softmax_cross_entropy(z, labels).backward()
        grads_.append(z.grad)
    assert torch.equal(grads_[0], grads_[1])
    z_ref = leaf(logits.double())
    softmax_cross_entropy_reference(z_ref, labels).backward()
    close(grads_[0], z_ref.grad, dtype)


def _huge(*shape: int) -> torch.Tensor:
    """A float tensor of prod(shape) elements that takes no memory (a broadcast view)."""
    return torch.zeros([1] * len(shape)).expand(*shape)


def test_tensors_past_the_32bit_offsets_are_refused_before_any_allocation():
    # 2^30 elements: every elementwise op (forward and backward, CPU path here; the CUDA bindings run the
    # same checks) refuses it with a clear error instead of wrapping its 32-bit offsets.
    ensure_built()
    big = _huge(2**10, 2**4, 2**8, 2**8)  # [N, C, H, W], 2^30 elements
    calls = {
        "lrn_forward": lambda: OPS.lrn_forward(big, 5, 1e-4, 0.75, 2.0, 1),
        "lrn_backward": lambda: OPS.lrn_backward(big, big, big, 5, 1e-4, 0.75, 1),
        "maxpool_forward": lambda: OPS.maxpool_forward(big, 2, 2, 0),
        "maxpool_backward": lambda: OPS.maxpool_backward(_huge(2**10, 2**4, 2**8, 2**8),
                                                         torch.zeros(1, 1, 1, 1, dtype=torch.int32).expand(
                                                             2**10, 2**4, 2**8, 2**8), 2**8, 2**8, 1, 1, 0),
        "bias_relu": lambda: OPS.bias_relu(big, torch.zeros(2**4)),
        "bias_relu_backward": lambda: OPS.bias_relu_backward(big, big),
        "dropout": lambda: OPS.dropout(big, 0.5, 1),
        "softmax_xent": lambda: OPS.softmax_xent(_huge(2**15, 2**15), torch.zeros(2**15, dtype=torch.long)),
        "softmax_xent_backward": lambda: OPS.softmax_xent_backward(
            torch.tensor(1.0), _huge(2**15, 2**15), torch.zeros(2**15, dtype=torch.long), torch.zeros(2**15)),
    }
    for name, call in calls.items():
        with pytest.raises(RuntimeError, match="2\\^30 or more is beyond the kernels' 32-bit offsets"):
            call()

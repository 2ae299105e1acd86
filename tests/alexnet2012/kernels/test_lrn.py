"""LRN (kernels/lrn.py): the paper's formula, its slow term-by-term reference, the "torch"
layer and the kernel. The torch layer against hand-computed values and the reference; the
kernel against the reference (values and gradients, every unrolled window, the generic one,
towers, fp32 and bf16) and against the torch layer; on the CPU path here and on the GPU
where one is present."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.lrn import LocalResponseNorm, lrn, lrn_reference

from .conftest import DEVICES, DTYPES, close, grads, leaf, noncontiguous

# ----------------------------------------------------------------------------- the torch layer


def test_lrn_hand_computed_values():
    # All maps 2, k=2, n=5, alpha=1, beta=1: channel i sums (a^j)^2 = 4 over its
    # in-range neighbours j in [i-2, i+2]: 3 at the edges, 4 one in, 5 inside.
    a = torch.full((1, 7, 1, 1), 2.0, dtype=torch.float64)
    b = LocalResponseNorm(size=5, alpha=1.0, beta=1.0, k=2.0)(a).flatten().tolist()
    assert b == pytest.approx([2 / 14, 2 / 18, 2 / 22, 2 / 22, 2 / 22, 2 / 18, 2 / 14])
    # Two towers of 4 maps: each is normalised as if alone (edges at 0|3 and 4|7).
    a = torch.full((1, 8, 1, 1), 2.0, dtype=torch.float64)
    b = LocalResponseNorm(size=5, alpha=1.0, beta=1.0, k=2.0, groups=2)(a)
    assert b.flatten().tolist() == pytest.approx([2 / 14, 2 / 18, 2 / 18, 2 / 14] * 2)


def test_lrn_paper_constants_divide_by_k_to_the_beta_for_small_inputs():
    # With the paper's alpha = 1e-4, small activations are just scaled by 2^-0.75.
    a = torch.full((1, 5, 1, 1), 1e-3, dtype=torch.float64)
    assert LocalResponseNorm()(a).flatten().tolist() == pytest.approx([1e-3 * 2**-0.75] * 5, rel=1e-9)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("alpha", [1e-4, 1e-2])
def test_lrn_matches_reference_values_and_gradients(groups, alpha):
    torch.manual_seed(0)
    # Activations of tens (like conv1's) so the alpha * sum term matters; 12 maps
    # put edges and the tower boundary (6|7) within n/2 of many channels.
    a = (torch.randn(2, 12, 3, 4, dtype=torch.float64) * 20).requires_grad_()
    a_ref = a.detach().clone().requires_grad_()
    out = LocalResponseNorm(5, alpha, 0.75, 2.0, groups)(a)
    ref = lrn_reference(a_ref, 5, alpha, 0.75, 2.0, groups)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(a.grad, a_ref.grad, rtol=1e-10, atol=1e-12)
    # The normalisation really bites: outputs are not just a / k^beta.
    assert (out - a / 2.0**0.75).abs().max() > 0.5


def test_tower_scope_differs_from_layer_scope_only_near_the_boundary():
    torch.manual_seed(1)
    a = torch.randn(2, 96, 5, 5) * 30
    tower = LocalResponseNorm(groups=2)(a)
    layer = LocalResponseNorm(groups=1)(a)
    differs = [c for c in range(96) if not torch.equal(tower[:, c], layer[:, c])]
    # Channels 46, 47 | 48, 49 have neighbours across the boundary within n/2 = 2.
    assert differs == [46, 47, 48, 49]
    torch.testing.assert_close(tower, lrn_reference(a.double(), groups=2).float())



@pytest.mark.parametrize("size,beta,groups", [(1, 0.75, 1), (3, 0.75, 3), (5, 0.75, 2), (7, 0.5, 1), (11, 1.0, 2)])
def test_cpu_closed_form_matches_torchs_composite(size, beta, groups):
    # The CPU layer's hand-written gradient against autograd through F.local_response_norm
    # (what the layer ran before), values and gradients, including channels_last input.
    import torch.nn.functional as F

    torch.manual_seed(size)
    a = (torch.randn(3, 12, 4, 5, dtype=torch.float64) * 20).to(memory_format=torch.channels_last).requires_grad_()
    a_ref = a.detach().clone().requires_grad_()
    out = LocalResponseNorm(size, 1e-2, beta, 2.0, groups)(a)
    folded = a_ref.reshape(3 * groups, 12 // groups, 4, 5)
    ref = F.local_response_norm(folded, size, alpha=1e-2 * size, beta=beta, k=2.0).reshape(3, 12, 4, 5)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(a.grad, a_ref.grad, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(LocalResponseNorm(size, 1e-1, beta, 2.0, groups), (a.detach()[:1, :, :2, :2].clone().requires_grad_(),))


# ----------------------------------------------------------------------------- the kernel

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
    out, (dx,), weight = grads(lambda t: lrn(t, size, alpha, beta, k, groups), leaf(x))
    x64 = leaf(x.double().cpu())
    ref, (dx64,), _ = grads(lambda t: lrn_reference(t, size, alpha, beta, k, groups), x64, weight=weight.double().cpu())
    assert out.dtype == dtype and out.device.type == device
    close(out, ref, dtype, scale=ref.abs().max().item())
    close(dx, dx64, dtype, scale=dx64.abs().max().item())
    # The normalisation bites: this is not just x / k^beta.
    if alpha >= 1e-2:
        assert (ref - x64 / k**beta).abs().max() > 0.1


@pytest.mark.parametrize("device", DEVICES)
def test_lrn_noncontiguous_input_matches_the_torch_layer(device):
    x = torch.rand(4, 96, 9, 11, device=device) * 30
    y = lrn(noncontiguous(x), 5, 1e-4, 0.75, 2.0, 2)
    close(y, LocalResponseNorm(5, 1e-4, 0.75, 2.0, 2)(x.double()), torch.float32, scale=y.abs().max().item())

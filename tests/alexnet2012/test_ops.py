"""The ops seam: the registry, and the paper's LRN against a direct transcription."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet2012.ops import OpsConfig, available, make, register, registry
from alexnet2012.ops.reference import lrn_reference
from alexnet2012.ops.torch_ops import LocalResponseNorm


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


def test_unknown_impl_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown implementation 'cuda' for op 'lrn'; available: \['custom', 'torch'\]"):
        make("lrn", "cuda", size=5)
    with pytest.raises(ValueError, match=r"unknown op kind 'deconv'.*'conv', 'fc', 'lrn'"):
        make("deconv", "torch")
    with pytest.raises(ValueError, match=r"conv: unknown implementation 'cudnn'; available: \['custom', 'torch'\]"):
        OpsConfig(conv="cudnn").validate()
    with pytest.raises(ValueError, match="already has an implementation named 'torch'"):
        register("pool", "torch", nn.MaxPool2d)
    OpsConfig().validate()


def test_registered_impl_is_available_and_built(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY["pool"], "avg", nn.AvgPool2d)  # same (kernel_size, stride) args
    assert available("pool") == ("avg", "custom", "torch")
    OpsConfig(pool="avg").validate()
    assert isinstance(make("pool", "avg", kernel_size=3, stride=2), nn.AvgPool2d)


def test_torch_impls():
    conv = make("conv", "torch", in_channels=4, out_channels=6, kernel_size=5, stride=1, padding=2, groups=2)
    assert tuple(conv.weight.shape) == (6, 2, 5, 5) and tuple(conv.bias.shape) == (6,)
    # Overlapping pooling, z=3 s=2: 55 -> 27, 27 -> 13, 13 -> 6 (Figure 2).
    pool = make("pool", "torch", kernel_size=3, stride=2)
    assert [pool(torch.zeros(1, 1, s, s)).shape[-1] for s in (55, 27, 13)] == [27, 13, 6]
    x = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 5.0]])[None, None]
    assert pool(x).item() == 5.0
    assert make("activation", "torch")(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]
    drop = make("dropout", "torch", p=0.5)
    assert drop.p == 0.5 and torch.equal(drop.eval()(torch.ones(3)), torch.ones(3))
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1])
    loss = make("loss", "torch")(logits, labels)
    # mean of -log softmax: (log(1 + e^-2) + log 2) / 2
    assert loss.item() == pytest.approx((torch.log1p(torch.exp(torch.tensor(-2.0))).item() + 0.6931471805599453) / 2)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, labels).item())

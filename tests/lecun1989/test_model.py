"""The 1989 network: the paper's counts, layer shapes, sparse H2, init."""

import pytest
import torch
import torch.nn.functional as F

from lecun1989.connectivity import h2_input_maps
from lecun1989.model import PAPER_COUNTS, ModelConfig, Net1989, build_model
from repro.config import ConfigError, parse


def test_counts_match_the_paper_exactly():
    model = build_model(ModelConfig(), seed=0)
    assert model.counts() == PAPER_COUNTS == {"units": 1256, "connections": 64660, "free_parameters": 9760}
    # Free parameters are real tensors, not a formula: 12*25 + 768 + 12*8*25 + 192 + 30*193 + 10*31.
    assert sum(p.numel() for p in model.parameters()) == 9760
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "h1_w": (12, 1, 5, 5), "h1_b": (12, 8, 8),
        "h2_w": (12, 8, 5, 5), "h2_b": (12, 4, 4),
        "h3_w": (30, 192), "h3_b": (30,),
        "out_w": (10, 30), "out_b": (10,),
    }


def test_dense_h2_would_not_match_the_paper():
    # The "full" scheme adds 12*4*25 = 1,200 weights and 192*100 = 19,200 connections.
    model = build_model(ModelConfig(h2_scheme="full"), seed=0)
    assert model.counts()["free_parameters"] == 9760 + 1200
    assert model.counts()["connections"] == 64660 + 19200


def test_layer_shapes():
    acts = build_model(ModelConfig(), seed=0).layers(torch.zeros(5, 1, 16, 16))
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "h1": (5, 12, 8, 8), "h2": (5, 12, 4, 4), "h3": (5, 30), "out": (5, 10)
    }


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected input \[B, 1, 16, 16\]"):
        build_model(ModelConfig(), seed=0)(torch.zeros(2, 16, 16))


def test_three_group_connectivity_is_balanced():
    maps = h2_input_maps(12, 12, "three_groups")
    assert maps.shape == (12, 8)
    # Each H2 map reads 8 distinct H1 maps; each H1 map feeds exactly 8 H2 maps.
    assert all(len(set(row.tolist())) == 8 for row in maps)
    assert torch.bincount(maps.flatten(), minlength=12).tolist() == [8] * 12
    assert maps[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert maps[4].tolist() == [4, 5, 6, 7, 8, 9, 10, 11]
    assert maps[8].tolist() == [0, 1, 2, 3, 8, 9, 10, 11]


# Which H1 maps each H2 map reads, written out independently of connectivity.py
# (Karpathy's slices: H2 0-3 <- H1 0:8, 4-7 <- H1 4:12, 8-11 <- H1 0:4 + 8:12),
# so a wrong table in the code cannot also be the reference's.
ORACLE_MASK = torch.zeros(12, 12)
ORACLE_MASK[0:4, 0:8] = 1
ORACLE_MASK[4:8, 4:12] = 1
ORACLE_MASK[8:12, 0:4] = 1
ORACLE_MASK[8:12, 8:12] = 1


def _reference_forward(model: Net1989, dense_h2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The whole net with an ordinary dense H2 convolution whose weight is
    masked by hand: the textbook way to write sparse connectivity."""
    mask = ORACLE_MASK.to(dense_h2.dtype)[:, :, None, None]
    h1 = torch.tanh(F.conv2d(F.pad(x, (2, 2, 2, 2), value=-1.0), model.h1_w, stride=2) + model.h1_b)
    h2 = torch.tanh(F.conv2d(F.pad(h1, (2, 2, 2, 2), value=-1.0), dense_h2 * mask, stride=2) + model.h2_b)
    h3 = torch.tanh(F.linear(h2.flatten(1), model.h3_w, model.h3_b))
    return torch.tanh(F.linear(h3, model.out_w, model.out_b))


def test_sparse_h2_forward_and_gradient_match_masked_dense_reference():
    torch.manual_seed(0)
    # A larger init so H2 is far from linear and every gradient is non-trivial.
    model = build_model(ModelConfig(init_fan_in_power=0.5), seed=1).double()
    x = (torch.rand(7, 1, 16, 16, dtype=torch.double) * 2 - 1)
    target = torch.randn(7, 10, dtype=torch.double)

    out = model(x)
    ((out - target) ** 2).sum().backward()

    dense = model.dense_h2_weight().detach().clone().requires_grad_(True)
    ref_params = [model.h1_w, model.h1_b, model.h2_b, model.h3_w, model.h3_b, model.out_w, model.out_b]
    ours = {id(p): p.grad.clone() for p in ref_params}
    for p in ref_params:
        p.grad = None
    ref_out = _reference_forward(model, dense, x)
    ((ref_out - target) ** 2).sum().backward()

    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    for p in ref_params:
        torch.testing.assert_close(ours[id(p)], p.grad, rtol=1e-10, atol=1e-12)
    # The sparse weights' gradient is the dense gradient at the connected
    # positions, and the dense gradient is exactly zero where there is no connection.
    idx = model.h2_inputs.view(12, 8)
    gathered = dense.grad.gather(1, idx[:, :, None, None].expand(-1, -1, 5, 5))
    torch.testing.assert_close(model.h2_w.grad, gathered, rtol=1e-10, atol=1e-12)
    unconnected = dense.grad * (1 - ORACLE_MASK.double())[:, :, None, None]
    assert torch.count_nonzero(unconnected) == 0
    assert torch.count_nonzero(model.h2_w.grad) == model.h2_w.numel()


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_init_is_uniform_within_fan_in_bounds(power):
    model = build_model(ModelConfig(init_fan_in_power=power), seed=0)
    for layer, fan_in in model.fan_ins().items():
        bound = 2.4 / fan_in**power
        for kind in ("w", "b"):
            t = getattr(model, f"{layer}_{kind}")
            assert t.abs().max() <= bound
            if t.numel() >= 300:
                # A uniform draw fills the range: max near the bound, std near bound/sqrt(3).
                assert t.abs().max() > 0.95 * bound
                assert abs(t.std().item() - bound / 3**0.5) < 0.1 * bound


def test_zero_bias_option_and_seeding():
    zero = build_model(ModelConfig(bias_init="zero"), seed=0)
    assert all(torch.count_nonzero(getattr(zero, f"{l}_b")) == 0 for l in ("h1", "h2", "h3", "out"))
    a, b, c = (build_model(ModelConfig(), seed=s) for s in (3, 3, 4))
    torch.manual_seed(123)  # the global RNG must not matter
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.h1_w, c.h1_w)


def test_scaled_tanh_maps_one_to_about_one():
    model = build_model(ModelConfig(activation="scaled_tanh"), seed=0)
    assert model._act(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=2e-3)
    assert model._act(torch.tensor(100.0)).item() == pytest.approx(1.7159, abs=1e-4)


def test_model_config_rejects_typos_and_bad_values():
    with pytest.raises(ConfigError, match=r"model: unknown key\(s\) \['h3_unit'\]"):
        parse(ModelConfig, {"h3_unit": 30}, "model")
    with pytest.raises(ConfigError, match=r"model.activation: 'sigmoid' is not one of"):
        parse(ModelConfig, {"activation": "sigmoid"}, "model")
    with pytest.raises(ConfigError, match="dropout"):
        parse(ModelConfig, {"dropout": 1.5}, "model")
    with pytest.raises(ValueError, match="divisible by 3"):
        Net1989(ModelConfig(h1_maps=10))

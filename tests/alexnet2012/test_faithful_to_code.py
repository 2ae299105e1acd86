"""Issue 17, the 2012 era: what the authors' code ran is the default, the paper's literal reading one
switch away. cuda-convnet's final 11% net and schedule, AlexNet's LRN alpha/n, weights-only weight decay,
and cuda-convnet's two average-pooling divisors, each tested against its formula or count."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.cli import run
from alexnet2012.convnet.model import build_convnet, param_groups
from alexnet2012.kernels.lrn import lrn_reference
from alexnet2012.ops import OpsConfig
from alexnet2012.model import AlexNetConfig, build_model, lrn_alpha
from alexnet2012.recipe import recipe_from_config
from repro.config import ConfigError
from repro.train.optim import OptimConfig, build_optimizer, build_scheduler, decay_groups

from .test_experiment import config, private_cache  # noqa: F401  (fixture)

SMALL = dict(channels=(8, 8, 8, 8, 8), fc_width=16, num_classes=10, input_size=24, conv1_kernel=5, conv1_stride=1,
             conv1_padding=2)


def recipe(*overrides):
    return recipe_from_config(config(*overrides))


# -- 1. the 11% net as cuda-convnet2's layers-cifar10-11pct.cfg + layer-params-cifar10-11pct.cfg ------------

def test_the_11pct_net_is_the_final_layer_file():
    r = recipe("experiment=cc_conv_local_11pct")
    layers = {layer.name: layer for layer in r.model.layers}
    assert [layer.name for layer in r.model.layers] == ["conv1", "pool1", "rnorm1", "conv2", "rnorm2", "pool2",
                                                        "local3", "local4", "fc10"]
    assert layers["rnorm1"].size == layers["rnorm2"].size == 9 and layers["rnorm1"].type == "cmrnorm"
    assert (layers["rnorm1"].scale, layers["rnorm1"].power) == (0.001, 0.75)
    assert (layers["local3"].filters, layers["local4"].filters) == (64, 32)
    assert [layers[n].wc for n in ("conv1", "conv2", "local3", "local4", "fc10")] == [0.0, 0.0, 0.004, 0.004, 0.01]
    assert [layers[n].init_w for n in ("conv1", "conv2", "local3", "local4", "fc10")] == [1e-4, 0.01, 0.04, 0.04, 0.01]
    model = build_convnet(r.model, 0)
    # 24 -> conv 24 -> pool 12 -> conv 12 -> pool 6; a locally connected layer has one bank and one bias per position.
    expected = {
        "conv1": 64 * 3 * 5 * 5 + 64,
        "conv2": 64 * 64 * 5 * 5 + 64,
        "local3": 6 * 6 * (64 * 64 * 3 * 3 + 64),
        "local4": 6 * 6 * (32 * 64 * 3 * 3 + 32),
        "fc10": 10 * 32 * 6 * 6 + 10,
    }
    counts = model.counts()
    assert {k: counts[k] for k in expected} == expected
    assert counts["total"] == sum(expected.values()) == 2_112_970


def test_the_11pct_schedule_is_350_plus_150_then_epsw_drops_only():
    r = recipe("experiment=cc_conv_local_11pct")
    assert r.trainer.epochs == 520 and r.optim.milestones == (500, 510) and r.optim.schedule_scope == "weights"
    model = build_convnet(r.model, 0)
    opt = build_optimizer(param_groups(model, r.optim.lr), r.optim)
    sched = build_scheduler(opt, r.optim, r.trainer.epochs)
    rates = {}
    for epoch in range(520):
        if epoch in (499, 500, 510):
            rates[epoch] = {g["name"]: g["lr"] for g in opt.param_groups}
        sched.step()
    assert rates[499]["conv1.weight"] == 0.001 and rates[499]["conv1.bias"] == 0.002
    # "Lower learning rates (epsW) by a factor of 10 to 0.0001" and "another factor of 10 to 0.00001".
    assert rates[500]["fc10.weight"] == pytest.approx(1e-4) and rates[510]["fc10.weight"] == pytest.approx(1e-5)
    assert rates[500]["fc10.bias"] == rates[510]["local3.bias"] == 0.002


def test_the_11pct_net_trains_one_pass_on_cifar_format_data_and_prints_its_count(cifar_root, tmp_path, caplog):
    caplog.set_level("INFO")
    m = run(config("experiment=cc_conv_local_11pct", f"data.root={cifar_root}", "data.verify=false",
                   "data.download=false", "trainer.device=cpu", "trainer.epochs=1", "trainer.progress=false",
                   "trainer.threads=1", "eval.batch_size=16"), tmp_path / "r")
    assert m["counts"]["total"] == 2_112_970 and m["passes"] == 1 and "val10" in m["final"]
    assert "2,112,970 parameters" in caplog.text


def test_schedule_scope_weights_needs_a_per_pass_schedule():
    with pytest.raises(ValueError, match="schedule_scope=weights needs a per-pass schedule"):
        OptimConfig(schedule="plateau", schedule_scope="weights").validate()


# -- 2. AlexNet's LRN: alpha/n as the code computed it, alpha as printed on request -------------------------

@pytest.mark.parametrize("convention,alpha_sum", [("code", 1e-4 / 5), ("paper", 1e-4)])
@pytest.mark.parametrize("ops", ["torch", "custom"])
def test_lrn_follows_its_convention_formula(convention, alpha_sum, ops):
    cfg = AlexNetConfig(**SMALL, lrn_alpha_convention=convention, ops=OpsConfig(lrn=ops))
    assert lrn_alpha(cfg) == pytest.approx(alpha_sum)
    model = build_model(cfg, 0)
    a = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(0)) * 40
    # b_i = a_i / (k + alpha_sum * sum_{j in window of 5, own tower} a_j^2)^beta, term by term.
    want = torch.empty_like(a)
    for i in range(8):
        tower = range(0, 4) if i < 4 else range(4, 8)
        window = [j for j in range(i - 2, i + 3) if j in tower]
        want[:, i] = a[:, i] / (2.0 + alpha_sum * (a[:, window] ** 2).sum(1)) ** 0.75
    torch.testing.assert_close(model.norm1(a), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lrn_reference(a, 5, alpha_sum, 0.75, 2.0, groups=2), want, rtol=1e-5, atol=1e-5)


def test_lrn_defaults_to_the_code_convention_in_both_configs():
    assert recipe("trainer.device=cpu").model.lrn_alpha_convention == "code"
    assert recipe("experiment=alexnet_cifar10").model.lrn_alpha_convention == "code"
    assert recipe("experiment=alexnet_cifar10", "model.lrn_alpha_convention=paper").model.lrn_alpha_convention == "paper"


# -- 3. weight decay on weights only --------------------------------------------------------------------------

def test_alexnet_decays_weights_only_by_default_and_everything_on_request():
    for overrides, bias_decay in (((), 0.0), (("optim.decay=all",), 5e-4)):
        r = recipe("experiment=alexnet_cifar10", *overrides)
        model = build_model(r.model, 0)
        opt = build_optimizer(model.named_parameters(), r.optim)
        groups = {g["name"]: g for g in opt.param_groups}
        assert groups["weights"]["weight_decay"] == 5e-4 and groups["biases"]["weight_decay"] == bias_decay
        biases = {id(p) for n, p in model.named_parameters() if n.endswith(".bias")}
        assert {id(p) for p in groups["biases"]["params"]} == biases and len(biases) == 8
        assert not biases & {id(p) for p in groups["weights"]["params"]}
    assert recipe("experiment=alexnet_cifar10").optim.decay == "weights"
    assert recipe("trainer.device=cpu", "optim=alexnet2012_step").optim.decay == "weights"


def test_weights_only_decay_leaves_a_bias_untouched_by_the_decay_term():
    w, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer([("fc.weight", w), ("fc.bias", b)], OptimConfig(lr=0.1, weight_decay=0.5, decay="weights"))
    (w.sum() * 0 + b.sum() * 0).backward()  # zero gradients: only the decay term moves anything
    opt.step()
    assert w.tolist() == pytest.approx([1 - 0.1 * 0.5] * 3) and b.tolist() == [1.0] * 3
    with pytest.raises(ValueError, match="needs named parameters"):
        build_optimizer([w], OptimConfig(weight_decay=0.5, decay="weights"))
    assert [g["name"] for g in decay_groups([("h.weight", w)], OptimConfig())] == ["weights"]


# -- 4. cuda-convnet's average pooling: z^2 (2011) or the in-bounds count (later releases) ---------------------

def test_average_pooling_divisors_and_the_in_bounds_gradient():
    window = recipe("experiment=cc_layers_80sec")
    assert window.model.avg_divisor == "window"  # the 80sec/18pct numbers' code: unchanged default
    in_bounds = recipe("experiment=cc_layers_80sec", "model.avg_divisor=in_bounds")
    layer = next(spec for spec in window.model.layers if spec.name == "pool2")
    x = torch.arange(16.0).view(1, 1, 4, 4)
    m_window, m_in = build_convnet(window.model, 0), build_convnet(in_bounds.model, 0)
    # 4x4 -> 2x2, windows rows/cols 0..2 and 2..3 (the second hangs off by one): 9, 6, 6, 4 pixels inside.
    sums = [sum(x[0, 0, r, c].item() for r in rows for c in cols)
            for rows in (range(0, 3), range(2, 4)) for cols in (range(0, 3), range(2, 4))]
    assert m_window._pool(layer, None, x).flatten().tolist() == pytest.approx([s / 9 for s in sums])
    assert m_in._pool(layer, None, x).flatten().tolist() == pytest.approx([s / n for s, n in zip(sums, (9, 6, 6, 4))])
    # The backward is the forward's gradient (cuda-convnet2's kLocalAvgUndo: 1/regionSize per window).
    xd = torch.randn(1, 2, 5, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m_in._pool(layer, None, t), (xd,))
    g = torch.ones(1, 1, 4, 4, requires_grad=True)
    m_in._pool(layer, None, g).sum().backward()
    # pixel (0,0) is in window (0,0) only: 1/9; pixel (3,3) only in window (1,1): 1/4; (2,2) in all four.
    assert g.grad[0, 0, 0, 0].item() == pytest.approx(1 / 9) and g.grad[0, 0, 3, 3].item() == pytest.approx(1 / 4)
    assert g.grad[0, 0, 2, 2].item() == pytest.approx(1 / 9 + 1 / 6 + 1 / 6 + 1 / 4)
    with pytest.raises(ConfigError):
        recipe("experiment=cc_layers_80sec", "model.avg_divisor=clipped")

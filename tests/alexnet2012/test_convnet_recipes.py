"""cuda-convnet's CIFAR-10 recipes as configs of the 2012 era: layer shapes, parameter
counts, per-layer rates, cuda-convnet's pooling, and each recipe running end to end."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.convnet.model import build_convnet, param_groups, pool_out
from alexnet2012.cli import run
from alexnet2012.recipe import recipe_from_config
from repro.config import ConfigError

from .test_experiment import config, private_cache  # noqa: F401  (fixture)

RECIPES = {
    # experiment: (parameters, layer output shapes in order)
    "cc_layers_80sec": (145_578, [(32, 32, 32), (32, 16, 16), (32, 16, 16), (32, 8, 8), (64, 8, 8), (64, 4, 4), (64,),
                                  (10,)]),
    "cc_layers_18pct": (89_578, [(32, 32, 32), (32, 16, 16), (32, 16, 16), (32, 16, 16), (32, 8, 8), (32, 8, 8),
                                 (64, 8, 8), (64, 4, 4), (10,)]),
    # cuda-convnet2's layers-cifar10-11pct.cfg: conv1, pool1, rnorm1, conv2, rnorm2, pool2, local3, local4, fc10.
    "cc_conv_local_11pct": (2_112_970, [(64, 24, 24), (64, 12, 12), (64, 12, 12), (64, 12, 12), (64, 12, 12),
                                        (64, 6, 6), (64, 6, 6), (32, 6, 6), (10,)]),
}


def recipe(name, *overrides):
    return recipe_from_config(config(f"experiment={name}", *overrides))


@pytest.mark.parametrize("name", RECIPES)
def test_layer_shapes_and_parameter_counts(name):
    params, expected = RECIPES[name]
    r = recipe(name)
    model = build_convnet(r.model, 0)
    assert model.counts()["total"] == params
    x = torch.zeros(2, 3, r.model.input_size, r.model.input_size)
    shapes = [tuple(model_output(model, r.model, k, x).shape[1:]) for k in range(1, len(r.model.layers) + 1)]
    assert shapes == expected
    assert model(x).shape == (2, 10)


def model_output(model, cfg, upto, x):
    """The output of the first ``upto`` layers of ``model`` (the forward's steps, stopped early)."""
    layers = model.layers
    for layer in layers[:upto]:
        block, neuron = model.blocks[layer.name], model.neurons[layer.name]
        if layer.type == "pool":
            x = neuron(model._pool(layer, block, x))
        elif layer.type in ("conv", "local", "fc"):
            x = neuron(block(x.flatten(1) if layer.type == "fc" else x))
        else:
            x = neuron(block(x))
    return x


def test_per_layer_rates_and_init_follow_the_layer_params_files():
    r = recipe("cc_layers_18pct")
    model = build_convnet(r.model, 0)
    groups = {g["name"]: g for g in param_groups(model)}
    assert groups["conv1.weight"]["lr"] == 0.001 and groups["conv1.bias"]["lr"] == 0.002
    assert groups["conv2.weight"]["weight_decay"] == 0.004 and groups["fc10.weight"]["weight_decay"] == 1.0
    assert all(g["weight_decay"] == 0.0 for n, g in groups.items() if n.endswith(".bias"))
    assert all(g["momentum"] == 0.9 for g in groups.values())
    assert {g["lr"] for g in param_groups(model, 10.0)} == {0.01, 0.02}  # optim.lr scales every layer's rates
    assert 0.8e-4 < model.blocks["conv1"].weight.std().item() < 1.2e-4  # initW = 1e-4
    assert 0.008 < model.blocks["conv2"].weight.std().item() < 0.012
    assert all(model.blocks[n].bias.abs().sum() == 0 for n in ("conv1", "conv2", "conv3", "fc10"))
    opt = __import__("alexnet2012.recipe", fromlist=["build_optimizer"]).build_optimizer(param_groups(model), r.optim)
    assert [g["lr"] for g in opt.param_groups][:2] == [0.001, 0.002]


def test_cuda_convnet_pooling_sizes_and_average_divisor():
    assert [pool_out(s, 3, 2) for s in (32, 16, 8, 24, 12)] == [16, 8, 4, 12, 6]  # ceil: the last window hangs off
    r = recipe("cc_layers_80sec")
    model = build_convnet(r.model, 0)
    layer = next(spec for spec in r.model.layers if spec.name == "pool2")
    x = torch.ones(1, 1, 4, 4)
    y = model._pool(layer, model.blocks["pool2"], x)
    # 4x4 -> 2x2: windows rows/cols 0..2 and 2..4 (the second hangs off by one): sums 9, 6, 6, 4, over 9.
    assert y.flatten().tolist() == pytest.approx([1.0, 6 / 9, 6 / 9, 4 / 9])
    layer = next(spec for spec in r.model.layers if spec.name == "pool1")
    x = -torch.arange(16.0).view(1, 1, 4, 4)  # max pooling ignores the overhang (never -inf out)
    assert model._pool(layer, model.blocks["pool1"], x).flatten().tolist() == [0.0, -2.0, -8.0, -10.0]


def test_custom_ops_build_the_same_11pct_network():
    torch.manual_seed(0)
    ref = recipe("cc_conv_local_11pct")
    cus = recipe("cc_conv_local_11pct", "model/ops=custom")
    a, b = build_convnet(ref.model, 3), build_convnet(cus.model, 3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 24, 24) * 50
    torch.testing.assert_close(b(x), a(x), rtol=1e-5, atol=1e-5)


def test_bad_configs_are_clear_errors():
    with pytest.raises(ConfigError, match="towers splits AlexNet's two towers"):
        recipe("cc_layers_80sec", "parallel.mode=towers", "trainer.device=cuda:0")
    with pytest.raises(ConfigError, match="the last layer must be the fc layer"):
        recipe("cc_layers_80sec", "~model.layers", "+model.layers=[{name: c, type: conv, filters: 4, size: 3}]")
    with pytest.raises(ConfigError, match="must equal model.input_size"):
        recipe("cc_layers_80sec", "augment.crop=24")


@pytest.mark.parametrize("name", RECIPES)
def test_each_recipe_trains_end_to_end(name, cifar_root, tmp_path):
    m = run(config(f"experiment={name}", f"data.root={cifar_root}", "data.verify=false", "data.download=false",
                   "trainer.device=cpu", "trainer.epochs=2", "trainer.progress=false", "trainer.threads=1",
                   "eval.batch_size=16"), tmp_path / "r")
    assert m["name"] == {"cc_layers_80sec": "layers-80sec", "cc_layers_18pct": "layers-18pct",
                         "cc_conv_local_11pct": "layers-conv-local-11pct"}[name]
    assert m["counts"]["total"] == RECIPES[name][0] and m["passes"] == 2
    assert ("val10" in m["final"]) == (name == "cc_conv_local_11pct")  # multiview only with crops


def test_figure1_records_training_error_every_pass(cifar_root, tmp_path):
    m = run(config("experiment=figure1", "model=cc_fig1_tanh", f"data.root={cifar_root}", "data.verify=false",
                   "data.download=false", "trainer.device=cpu", "trainer.epochs=2", "trainer.progress=false",
                   "trainer.threads=1", "eval.train_subset=40", "eval.batch_size=16"), tmp_path / "r")
    assert m["name"] == "fig1-tanh" and m["table"] == "figure1"
    header = (tmp_path / "r" / "history.csv").read_text().splitlines()[0].split(",")
    assert "train_error" in header and "val_error" in header
    assert m["final"]["train"]["misses"] == round(m["final"]["train"]["error"] * 40 / 100)
    r = recipe("figure1", "model=cc_fig1_relu")
    assert all(layer.wc == 0 for layer in r.model.layers) and r.optim.weight_decay == 0  # no regularisation
    assert [layer.neuron for layer in r.model.layers if layer.type == "conv"] == ["relu"] * 3
    # The figure counts epochs to 25% training error: a net stops there, capped at 120 passes (a cap no run
    # should reach: the figure's axis ends at 35).
    assert (r.trainer.stop_split, r.trainer.stop_error, r.trainer.epochs) == ("train", 25.0, 120)

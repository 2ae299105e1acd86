"""The 2012 recipes pinned where users meet them: `alexnet2012` and each cuda-convnet
experiment composed through Hydra exactly as the command does, every faithful value
compared with its source, and the network built from the composed config checked by
what it does (module constants, shapes, counts, init).

Sources: Krizhevsky, Sutskever & Hinton 2012 (NIPS), sections 3-5 ("paper §n");
cuda-convnet's example layers-*.cfg / layer-params-*.cfg (code.google.com/p/cuda-convnet).

Not pinned here (issue 17 is changing them): the LRN alpha convention, weight decay on
biases, cuda-convnet's conv-local-11pct net and its optimizer, Karpathy's init trick.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from alexnet2012.model import build_model, layer_shapes
from alexnet2012.recipe import recipe_from_config

CONF = str(Path(__file__).resolve().parents[2] / "conf" / "alexnet2012")


def composed(*overrides: str) -> dict:
    """The config `alexnet2012 <overrides>` runs (repro/app.py: compose, resolve to a dict)."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("alexnet2012", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def field(obj, dotted: str):
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


PAPER = {
    "model.variant": ("two_tower", "§3.2: two GPUs, half the kernels on each"),
    "model.conv1_kernel": (11, "§3.5: conv1 has 96 kernels of 11x11x3"),
    "model.conv1_stride": (4, "§3.5: a stride of 4 pixels"),
    "model.fc_width": (4096, "§3.5: the fully-connected layers have 4096 neurons each"),
    "model.num_classes": (1000, "§3.5: a 1000-way softmax"),
    "model.dropout": (0.5, "§4.2: dropout with probability 0.5 in the first two fully-connected layers"),
    "model.lrn_k": (2.0, "§3.3: k = 2"),
    "model.lrn_n": (5, "§3.3: n = 5"),
    "model.lrn_beta": (0.75, "§3.3: beta = 0.75"),
    "model.lrn_scope": ("tower", "§3.3/3.5: each GPU normalises its own kernel maps"),
    "model.init": ("paper", "§5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7, else 0"),
    "model.input_size": (224, "§3.5: 224x224x3 input images"),
    "augment.crop": (224, "§4.1: random 224x224 patches"),
    "augment.flip": (True, "§4.1: and their horizontal reflections"),
    "augment.lighting_std": (0.1, "§4.1: PCA colour noise, alpha ~ N(0, 0.1)"),
    "augment.mean": ("pixel", "§2: subtract the mean activity over the training set from each pixel"),
    "data.image_size": (256, "§2: rescaled to 256 on the shorter side, central 256x256 patch"),
    "optim.name": ("sgd", "§5: stochastic gradient descent"),
    "optim.lr": (0.01, "§5: the learning rate was initialised at 0.01"),
    "optim.momentum": (0.9, "§5: momentum of 0.9"),
    "optim.weight_decay": (5e-4, "§5: weight decay of 0.0005"),
    "optim.schedule": ("plateau", "§5: divide by 10 when the validation error stopped improving"),
    "optim.gamma": (0.1, "§5: divide the learning rate by 10"),
    "optim.max_reductions": (3, "§5: reduced three times prior to termination"),
    "trainer.epochs": (90, "§5: roughly 90 cycles through the training set"),
    "trainer.batch_size": (128, "§5: a batch size of 128 examples"),
    "trainer.order": ("reshuffle", "SGD: a new random order every pass"),
    "trainer.precision": ("fp32", "2012: float32 on GTX 580s"),
    "eval.ten_crop": ("last", "§4.1: the test prediction averages ten 224x224 patches"),
}


@pytest.mark.parametrize("dotted", sorted(PAPER))
def test_the_composed_alexnet_recipe_is_the_papers(dotted):
    value, source = PAPER[dotted]
    cfg = composed()
    recipe = recipe_from_config(cfg)
    assert recipe.tricks == ()
    assert field(cfg, dotted) == value, f"conf/ composes {dotted}={field(cfg, dotted)!r}, paper: {value!r} ({source})"
    got = field(recipe, dotted)
    assert (tuple(got) if isinstance(got, list) else got) == value, f"the recipe has {dotted}={got!r}, paper: {value!r} ({source})"


@pytest.fixture(scope="module")
def paper_net():
    recipe = recipe_from_config(composed())
    return recipe, build_model(recipe.model, seed=0)


def test_the_composed_network_does_what_the_paper_says(paper_net):
    recipe, model = paper_net
    assert sum(p.numel() for p in model.parameters()) == 60_965_224, "§3.5 / Figure 2 two-tower net: 60,965,224"
    assert recipe.model.effective_channels == (96, 256, 384, 384, 256), "§3.5: 96, 256, 384, 384, 256 kernels"
    for name in ("norm1", "norm2"):  # §3.3: LRN after the ReLUs of conv1 and conv2
        lrn = getattr(model, name)
        assert (lrn.k, lrn.size, lrn.beta) == (2.0, 5, 0.75), f"{name}: k, n, beta = {lrn.k}, {lrn.size}, {lrn.beta}; paper §3.3: 2, 5, 0.75"
    for name in ("drop6", "drop7"):  # §4.2
        assert getattr(model, name).p == 0.5, f"{name}: dropout p={getattr(model, name).p}, paper §4.2: 0.5"
    for name in ("pool1", "pool2", "pool5"):  # §3.4: overlapping pooling, s = 2, z = 3
        pool = getattr(model, name)
        assert (pool.kernel_size, pool.stride) == (3, 2), f"{name}: pooling {pool.kernel_size}/{pool.stride}, paper §3.4: 3x3/2"
    # Figure 2: 55x55 after conv1, 27 -> 13 -> 6 after each overlapping pool.
    shapes = layer_shapes(recipe.model)
    assert shapes["pool1"] == (96, 27, 27) and shapes["pool2"] == (256, 13, 13) and shapes["pool5"] == (256, 6, 6)


def test_the_composed_network_has_the_papers_init(paper_net):
    _, model = paper_net
    weights = dict(model.named_parameters())
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}  # §5: "initialized the neuron biases ... with the constant 1"
    for layer in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        w, b = weights[f"{layer}.weight"], weights[f"{layer}.bias"]
        assert w.std().item() == pytest.approx(0.01, rel=0.05), f"{layer}: weight sd {w.std().item():.4f}, paper §5: 0.01"
        assert abs(w.mean().item()) < 1e-3, f"{layer}: weights not zero-mean (paper §5: N(0, 0.01))"
        want = 1.0 if layer in ones else 0.0
        assert torch.all(b == want), f"{layer}: biases not {want} (paper §5)"


def test_the_step_schedule_option_reduces_three_times():
    recipe = recipe_from_config(composed("optim=alexnet2012_step"))
    assert (recipe.optim.schedule, recipe.optim.milestones, recipe.optim.gamma) == ("step", (30, 60, 80), 0.1)
    assert (recipe.optim.lr, recipe.optim.momentum, recipe.optim.weight_decay) == (0.01, 0.9, 5e-4)


# cuda-convnet's example nets, transcribed from layers-<name>.cfg and layer-params-<name>.cfg.
# (name, type, filters|outputs, size, stride, padding, pool, neuron, initW, epsW, epsB, momW, momB, wc, scale, pow)
LAYERS_80SEC = [
    ("conv1", "conv", 32, 5, 1, 2, None, "ident", 1e-4, 0.001, 0.002, 0.9, 0.9, 0.004, None, None),
    ("pool1", "pool", None, 3, 2, 0, "max", "relu", None, None, None, None, None, None, None, None),
    ("conv2", "conv", 32, 5, 1, 2, None, "relu", 0.01, 0.001, 0.002, 0.9, 0.9, 0.004, None, None),
    ("pool2", "pool", None, 3, 2, 0, "avg", "ident", None, None, None, None, None, None, None, None),
    ("conv3", "conv", 64, 5, 1, 2, None, "relu", 0.01, 0.001, 0.002, 0.9, 0.9, 0.004, None, None),
    ("pool3", "pool", None, 3, 2, 0, "avg", "ident", None, None, None, None, None, None, None, None),
    ("fc64", "fc", 64, None, None, None, None, "relu", 0.1, 0.001, 0.002, 0.9, 0.9, 0.03, None, None),
    ("fc10", "fc", 10, None, None, None, None, "ident", 0.1, 0.001, 0.002, 0.9, 0.9, 0.03, None, None),
]
LAYERS_18PCT = [
    ("conv1", "conv", 32, 5, 1, 2, None, "ident", 1e-4, 0.001, 0.002, 0.9, 0.9, 0.004, None, None),
    ("pool1", "pool", None, 3, 2, 0, "max", "relu", None, None, None, None, None, None, None, None),
    ("rnorm1", "rnorm", None, 3, None, None, None, "ident", None, None, None, None, None, None, 5e-5, 0.75),
    ("conv2", "conv", 32, 5, 1, 2, None, "relu", 0.01, 0.001, 0.002, 0.9, 0.9, 0.004, None, None),
    ("pool2", "pool", None, 3, 2, 0, "avg", "ident", None, None, None, None, None, None, None, None),
    ("rnorm2", "rnorm", None, 3, None, None, None, "ident", None, None, None, None, None, None, 5e-5, 0.75),
    ("conv3", "conv", 64, 5, 1, 2, None, "relu", 0.01, 0.001, 0.002, 0.9, 0.9, 0.004, None, None),
    ("pool3", "pool", None, 3, 2, 0, "avg", "ident", None, None, None, None, None, None, None, None),
    ("fc10", "fc", 10, None, None, None, None, "ident", 0.01, 0.001, 0.002, 0.9, 0.9, 1.0, None, None),  # wc=1 (sic)
]
# Figure 1's nets (conf/model/cc_fig1_*.yaml): layers-18pct without rnorm and without weight decay.
FIG1 = [(n, t, f, s, st, p, pl, "NEURON" if nr == "relu" else nr, w, ew, eb, mw, mb, 0.0 if wc is not None else None, sc, pw)
        for (n, t, f, s, st, p, pl, nr, w, ew, eb, mw, mb, wc, sc, pw) in LAYERS_18PCT if t != "rnorm"]
FIG1[0] = FIG1[0][:7] + ("NEURON",) + FIG1[0][8:]  # conv1 gets the neuron itself
FIG1[1] = FIG1[1][:7] + ("ident",) + FIG1[1][8:]   # and pool1 none
FIG1[-1] = FIG1[-1][:13] + (0.0,) + FIG1[-1][14:]

FIELDS = ("name", "type", "width", "size", "stride", "padding", "pool", "neuron", "init_w", "eps_w", "eps_b",
          "mom_w", "mom_b", "wc", "scale", "power")


def transcribed(layer) -> tuple:
    width = layer.filters if layer.type in ("conv", "local") else layer.outputs if layer.type == "fc" else None
    weighted = layer.type in ("conv", "local", "fc")
    spatial = layer.type in ("conv", "local", "pool")
    norm = layer.type in ("rnorm", "cmrnorm")
    return (layer.name, layer.type, width, layer.size if not layer.type == "fc" else None,
            layer.stride if spatial else None, layer.padding if spatial else None,
            layer.pool if layer.type == "pool" else None, layer.neuron,
            *((layer.init_w, layer.eps_w, layer.eps_b, layer.mom_w, layer.mom_b, layer.wc) if weighted else (None,) * 6),
            *((layer.scale, layer.power) if norm else (None, None)))


@pytest.mark.parametrize("experiment,expected,optim", [
    # layer-params-80sec.cfg: "reduce the learning rate after 8 epochs by a factor of 10"
    ("cc_layers_80sec", LAYERS_80SEC, {"lr": 1.0, "schedule": "step", "milestones": (8,), "gamma": 0.1}),
    # layer-params-18pct.cfg: "/10 after 120 epochs. Then another factor of 10 after 10 more epochs."
    ("cc_layers_18pct", LAYERS_18PCT, {"lr": 1.0, "schedule": "step", "milestones": (120, 130), "gamma": 0.1}),
])
def test_cuda_convnet_recipes_are_their_cfg_files(experiment, expected, optim):
    recipe = recipe_from_config(composed(f"experiment={experiment}", "trainer.device=cpu"))
    got = [transcribed(layer) for layer in recipe.model.effective_layers()]
    for want, have in zip(expected, got):
        diff = {f: (h, w) for f, w, h in zip(FIELDS, want, have) if w != h}
        assert not diff, f"{experiment} layer {want[0]}: (composed, cfg file) differ in {diff}"
    assert [g[0] for g in got] == [e[0] for e in expected], f"{experiment}: layer list differs from layers-*.cfg"
    for key, value in optim.items():
        assert field(recipe.optim, key) == value, f"{experiment}: optim.{key}={field(recipe.optim, key)!r}, cfg: {value!r}"
    # Both: momentum and weight decay live per layer (momW, wc); no global ones on top; batch 128 (--mini).
    assert (recipe.optim.momentum, recipe.optim.weight_decay, recipe.trainer.batch_size) == (0.0, 0.0, 128)
    # The cifar data provider: whole 32x32 images minus the mean image, no crops, flips or lighting.
    assert (recipe.augment.crop, recipe.augment.flip, recipe.augment.lighting_std, recipe.augment.mean) == (32, False, 0.0, "pixel")
    assert (recipe.model.response_norm, recipe.model.pool_size, recipe.model.dropout, recipe.model.batchnorm) == (True, 0, 0.0, False)


@pytest.mark.parametrize("neuron", ["relu", "tanh"])
def test_figure1_nets_are_the_18pct_net_without_regularisation(neuron):
    """Paper Figure 1: four-layer nets, ReLU vs tanh, "no regularization of any kind"."""
    recipe = recipe_from_config(composed("experiment=figure1", f"model=cc_fig1_{neuron}", "trainer.device=cpu"))
    expected = [tuple(neuron if v == "NEURON" else v for v in row) for row in FIG1]
    got = [transcribed(layer) for layer in recipe.model.effective_layers()]
    assert [g[0] for g in got] == [e[0] for e in expected]
    for want, have in zip(expected, got):
        diff = {f: (h, w) for f, w, h in zip(FIELDS, want, have) if w != h}
        assert not diff, f"figure1 {neuron} layer {want[0]}: (composed, expected) differ in {diff}"
    assert (recipe.optim.weight_decay, recipe.optim.momentum, recipe.optim.schedule, recipe.model.dropout) == (0.0, 0.0, "constant", 0.0)

"""The 1989 recipe pinned where users meet it: `lecun1989` composed through Hydra
exactly as the command does (conf/lecun1989.yaml and its default groups), every
faithful value compared with LeCun et al. 1989 (Neural Computation 1(4), 541-551),
and every named deviation with the source it follows.

Unit tests of lecun1989/model.py check the code's defaults; these check what
conf/ composes, which is what a run trains. A wrong value fails with its name.

Not pinned here (issue 17 is changing them): the scaled-tanh output handling.
"""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lecun1989.cli import CONF_DIR
from lecun1989.model import PAPER_COUNTS, build_model
from lecun1989.recipe import recipe_from_config


def composed(*overrides: str) -> dict:
    """The config `lecun1989 <overrides>` runs (repro/app.py: compose, resolve to a dict)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("lecun1989", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


# field -> (value, source). Section numbers: LeCun et al. 1989.
PAPER = {
    "model.h1_maps": (12, "5.1: H1 is 12 feature maps of 8x8"),
    "model.h2_maps": (12, "5.1: H2 is 12 feature maps of 4x4"),
    "model.h3_units": (30, "5.1: H3 has 30 units, fully connected"),
    "model.h2_scheme": ("three_groups", "5.1: each H2 unit reads 8 of the 12 H1 maps (which 8: Karpathy's grouping)"),
    "model.pad_value": (-1.0, "5.1: the input is padded with the background value, -1"),
    "model.init_scale": (2.4, "5.2: weights drawn uniformly in [-2.4/F, 2.4/F]"),
    "model.init_fan_in_power": (1.0, "5.2: ... /F, F the fan-in (not Karpathy's 2.4/sqrt(F))"),
    "model.bias_init": ("uniform", "5.1: biases are counted as connections, so drawn like the weights"),
    "model.dropout": (0.0, "1989 has no dropout"),
    "model.norm": ("none", "1989 has no normalisation layers"),
    "loss": ("mse", "5.2: mean squared error to the desired outputs"),
    "label_smoothing": (0.0, "1989: +-1 targets, no smoothing"),
    "augment.shift": (0, "1989 trains on the digits as they are"),
    "optim.name": ("sgd", "5.2: per-example gradient updates (deviation: plain SGD, conf/optim/sgd.yaml)"),
    "optim.momentum": (0.0, "5.2: no momentum"),
    "optim.weight_decay": (0.0, "1989: no weight decay"),
    "trainer.epochs": (23, "5.3: 23 passes through the training set"),
    "trainer.batch_size": (1, "5.2: weights updated after each pattern"),
    "trainer.precision": ("fp32", "full precision"),
    "trainer.max_epochs": (0, "no cap on the passes by default"),
    "data.name": ("usps", "4: the zip-code digits (7,291 train / 2,007 test)"),
}
# The named deviations (lecun1989/README.md, "Faithfulness"): pinned too, so they change only on purpose.
DEVIATIONS = {
    "model.activation": ("tanh", "paper 5.1: scaled tanh; default: Karpathy's plain tanh (model.activation)"),
    "optim.lr": (0.03, "paper: diagonal Levenberg-Marquardt step sizes; Karpathy's plain-SGD rate 0.03"),
    "optim.schedule": ("constant", "Karpathy's constant rate (the paper's per-weight step sizes are not a schedule)"),
    "trainer.order": ("file", "paper silent; the data file's order every pass (Karpathy)"),
}


def field(obj, dotted: str):
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


@pytest.mark.parametrize("dotted", sorted({**PAPER, **DEVIATIONS}))
def test_the_composed_config_and_recipe_are_the_papers(dotted):
    value, source = {**PAPER, **DEVIATIONS}[dotted]
    cfg = composed()
    recipe, applied = recipe_from_config(cfg)
    assert applied == ()
    if dotted not in ("model.norm",):  # not in the yaml: the dataclass default, checked on the recipe
        assert field(cfg, dotted) == value, f"conf/ composes {dotted}={field(cfg, dotted)!r}, paper: {value!r} ({source})"
    assert field(recipe, dotted) == value, f"the recipe has {dotted}={field(recipe, dotted)!r}, paper: {value!r} ({source})"


def test_the_composed_network_is_the_papers():
    recipe, _ = recipe_from_config(composed())
    model = build_model(recipe.model, seed=0)
    assert model.counts() == PAPER_COUNTS, "5.1: 1,256 units, 64,660 connections, 9,760 free parameters"
    # 5.2: every weight and bias in [-2.4/F, 2.4/F] with F the fan-in, filling the range.
    fan = {"h1": 25, "h2": 8 * 25, "h3": 192, "out": 30}
    for layer, f in fan.items():
        for kind in ("w", "b"):
            t = getattr(model, f"{layer}_{kind}")
            bound = 2.4 / f
            assert t.abs().max() <= bound, f"{layer}_{kind} exceeds 2.4/F = {bound:.4f} (paper 5.2)"
            if t.numel() >= 300:
                assert t.abs().max() > 0.9 * bound, f"{layer}_{kind} does not fill U[-2.4/F, 2.4/F] (paper 5.2)"
    # 5.1: a blank digit (all background, -1) padded with -1 is the same as a blank 20x20 field: H1's
    # border units see only -1. With pad 0 the border units of H1 would differ from the centre ones.
    with torch.no_grad():
        h1 = model.layers(torch.full((1, 1, 16, 16), -1.0))["h1"]
        pre = torch.atanh(h1.clamp(-1 + 1e-7, 1 - 1e-7)) - model.h1_b  # the convolution alone
    torch.testing.assert_close(pre, pre[:, :, 3:4, 3:4].expand_as(pre), rtol=0, atol=1e-5,
                               msg="H1 border units see other than the background: input padding is not -1 (paper 5.1)")


def test_the_loss_is_mse_to_plus_minus_one_targets():
    recipe, _ = recipe_from_config(composed())
    out = torch.tensor([[0.5, -1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]])
    # Target for label 0: +1 at 0, -1 elsewhere (5.2); (0.5 - 1)^2 + (1 + 1)^2 = 4.25 over 10 outputs.
    assert recipe.loss_fn()(out, torch.tensor([0])).item() == pytest.approx(0.425)


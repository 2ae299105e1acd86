"""The 2012 era's tricks on cuda-convnet's CIFAR-10 nets: each changes exactly its
fields and the network the way it says; they compose in any order; misuse is refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from alexnet2012.convnet.model import build_convnet
from alexnet2012.recipe import build_task, recipe_from_config
from modern_tricks import TRICKS_BY_ERA, apply_tricks
from repro.config import ConfigError

CONF = str(Path(__file__).resolve().parents[2] / "conf" / "alexnet2012")
ALL = ("no_response_norm", "non_overlapping_pool", "tanh", "dropout", "crop_flip", "pca_lighting", "pad_crop_flip",
       "batchnorm", "label_smoothing", "adamw", "one_cycle", "mixed_precision", "channels_last", "torch_compile")


def config(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return OmegaConf.to_container(compose("alexnet2012", overrides=list(overrides)), resolve=True)


def recipe(*tricks, experiment="cc_layers_18pct", extra=()):
    return recipe_from_config(config(f"experiment={experiment}", f"trick2012=[{','.join(tricks)}]", *extra))


def test_the_catalogue_holds_every_trick_with_an_origin():
    # Their Hydra options (trick2012=[...]) are made from it: tests/modern_tricks/test_configs.py.
    assert set(TRICKS_BY_ERA["alexnet2012"]) == set(ALL)
    for name in ALL:
        trick = TRICKS_BY_ERA["alexnet2012"][name]
        assert trick.era == "alexnet2012" and trick.origin and trick.summary


EXPECTED = {
    "no_response_norm": {"model.response_norm": False},
    "non_overlapping_pool": {"model.pool_size": 2},
    "tanh": {"model.neuron": "tanh"},
    "dropout": {"model.dropout": 0.5},
    # 24x24 patches: the net's input with them (18pct tests one view, so the ten views are turned on).
    "crop_flip": {"augment.crop": 24, "augment.flip": True, "model.input_size": 24, "eval.ten_crop": "last"},
    "pca_lighting": {"augment.lighting_std": 0.1},
    "pad_crop_flip": {"augment.pad": 4, "augment.flip": True},  # crop stays 32: the net's input unchanged
    "batchnorm": {"model.batchnorm": True},
    "label_smoothing": {"model.label_smoothing": 0.1},
    "adamw": {"optim.name": "adamw"},  # optim.lr stays 1.0: the layers' own rates
    "one_cycle": {"optim.schedule": "onecycle", "optim.lr": 4.0, "optim.lr_final": 0.04},  # warmup 0.3 = the default
    "mixed_precision": {"trainer.precision": "bf16"},
    "channels_last": {"trainer.channels_last": True},
    "torch_compile": {"trainer.compile": True},
}


@pytest.mark.parametrize("name", ALL)
def test_each_trick_changes_exactly_its_fields(name):
    from modern_tricks.trick import flat_fields

    base, new = flat_fields(recipe()), flat_fields(recipe(name))
    changed = {k: new[k] for k in new if new[k] != base[k] and k != "tricks"}
    assert changed == EXPECTED[name]


def test_tricks_change_the_network_as_described():
    base = build_convnet(recipe().model, 0)
    no_norm = build_convnet(recipe("no_response_norm").model, 0)
    assert [layer.type for layer in no_norm.layers].count("rnorm") == 0
    assert [layer.type for layer in base.layers].count("rnorm") == 2
    assert no_norm.counts()["total"] == base.counts()["total"] == 89_578
    x = torch.randn(3, 3, 32, 32) * 50
    pooled = build_convnet(recipe("non_overlapping_pool").model, 0)
    assert {layer.size for layer in pooled.layers if layer.type == "pool"} == {2}
    assert pooled(x).shape == (3, 10)  # the same sizes: 32 -> 16 -> 8 -> 4
    tanh = build_convnet(recipe("tanh").model, 0)
    assert all(isinstance(m, torch.nn.Tanh) for n, m in tanh.neurons.items() if n in ("conv2", "conv3", "pool1"))
    bn = build_convnet(recipe("batchnorm").model, 0)
    assert sorted(bn.norms) == ["conv1", "conv2", "conv3"]
    assert bn.counts()["total"] == 89_578 + 2 * (32 + 32 + 64)
    drop = build_convnet(recipe("dropout").model, 0).train()
    torch.manual_seed(0)
    assert not torch.equal(drop(x), drop(x))  # masks differ call to call in training
    assert torch.equal(drop.eval()(x), drop.eval()(x))


def test_order_never_matters():
    names = ("tanh", "dropout", "adamw", "one_cycle")
    results = {recipe(*perm) for perm in itertools.permutations(names)}
    assert len({(r.model, r.optim, r.trainer) for r in results}) == 1
    assert recipe(*names).tricks == ("dropout", "tanh", "adamw", "one_cycle")  # stage order, then name


def test_misuse_is_refused():
    with pytest.raises(ConfigError, match=r"trick2012: unknown trick\(s\) \['relu'\]"):
        apply_tricks(recipe(), {"relu": {}}, era="alexnet2012")  # (Hydra refuses it earlier, from the CLI)
    with pytest.raises(ConfigError, match="the 2012 tricks edit cuda-convnet's CIFAR-10 nets"):
        recipe("dropout", experiment="alexnet_cifar10")
    with pytest.raises(ConfigError, match="label smoothing needs model.ops.loss=torch"):
        recipe("label_smoothing", extra=("model/ops=custom",))
    with pytest.raises(ConfigError, match="p must be in"):
        recipe("dropout", extra=("trick2012.dropout.p=1.5",))
    with pytest.raises(ConfigError, match="pad_crop_flip crops the whole image size .* choose one"):
        recipe("pad_crop_flip", "crop_flip")
    with pytest.raises(ConfigError, match="crop must be in 8..31"):
        recipe("crop_flip", extra=("trick2012.crop_flip.crop=32",))


def test_adamw_and_label_smoothing_reach_the_optimizer_and_loss(cifar_like):
    r = recipe("adamw", "label_smoothing", extra=(f"data.root={cifar_like}", "data.verify=false",
                                                   "data.download=false", "trainer.device=cpu"))
    from alexnet2012.data import load_image_data

    built = build_task(r, load_image_data(r.data), 0)
    assert isinstance(built.task.optimizer, torch.optim.AdamW)
    assert {g["lr"] for g in built.task.optimizer.param_groups} == {0.001, 0.002}
    assert built.task.loss_fn.label_smoothing == 0.1


def test_every_trick_at_once_trains(cifar_like, tmp_path):
    from alexnet2012.cli import run

    # All but tanh (it would replace nothing else), torch_compile (its own test: compile time) and the
    # augmentations (each row trains in test_each_augmentation_row_composes_and_trains_a_step; on these
    # 2 passes they slow the fall of the training loss this test measures).
    skip = ("tanh", "torch_compile", "crop_flip", "pca_lighting", "pad_crop_flip")
    m = run(config("experiment=cc_layers_18pct",
                   f"trick2012=[{','.join(t for t in ALL if t not in skip)}]",
                   f"data.root={cifar_like}", "data.verify=false", "data.download=false", "trainer.device=cpu",
                   "trainer.epochs=2", "trainer.progress=false", "trainer.threads=1", "eval.batch_size=16"),
            tmp_path / "r")
    # Applied by stage, then by name; the record lists them so.
    assert m["passes"] == 2 and list(m["recipe"]["tricks"]) == [
        "batchnorm", "dropout", "no_response_norm", "non_overlapping_pool", "label_smoothing", "adamw", "one_cycle",
        "channels_last", "mixed_precision"]
    import pandas as pd

    # It trains: every loss finite, and the training loss falls from the first pass to the second
    # (measured 2.376 -> 2.174; one_cycle keeps the rate tiny over 2 passes, so not more than that).
    history = pd.read_csv(tmp_path / "r" / "history.csv")
    losses = list(history["train_step_loss"])
    assert all(pd.notna(history["val_loss"])) and all(v == v and abs(v) < 10 for v in losses + list(history["val_loss"]))
    assert losses[1] < losses[0] - 0.1, f"all tricks at once: training loss {losses[0]:.3f} -> {losses[1]:.3f}, not falling"


@pytest.fixture
def cifar_like(tmp_path):
    """The miniature CIFAR-10 pickles of tests/alexnet2012/conftest.py, loaded from the file
    (sys.path and sys.modules are left as they were)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_cifar_fixtures", Path(__file__).resolve().parents[1] / "alexnet2012" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_cifar(tmp_path / "data")


def test_torch_compile_trains_to_the_same_losses(cifar_like, tmp_path):
    from alexnet2012.cli import run

    common = ("experiment=cc_layers_80sec", f"data.root={cifar_like}", "data.verify=false", "data.download=false",
              "trainer.device=cpu", "trainer.epochs=1", "trainer.progress=false", "trainer.threads=1",
              "eval.batch_size=16")
    plain = run(config(*common), tmp_path / "plain")
    compiled = run(config(*common, "trick2012=[torch_compile,channels_last]"), tmp_path / "compiled")
    assert compiled["final"]["val"]["loss"] == pytest.approx(plain["final"]["val"]["loss"], rel=1e-4)


@pytest.mark.parametrize("row", ["crop_flip", "crop_flip_lighting", "pad_crop_flip"])
def test_each_augmentation_row_composes_and_trains_a_step(row, cifar_like, tmp_path):
    # The row as the cc_ablations sweep composes it, one pass over 128 images (one step of batch 128).
    from alexnet2012.cli import run

    m = run(config("experiment=cc_ablations", f"+row/cc_ablations={row}", f"data.root={cifar_like}",
                   "data.verify=false", "data.download=false", "trainer.device=cpu", "trainer.epochs=1",
                   "trainer.threads=1", "eval.batch_size=16", "data.n_train=128"), tmp_path / row)
    tricks = {"crop_flip": ["crop_flip"], "crop_flip_lighting": ["crop_flip", "pca_lighting"],
              "pad_crop_flip": ["pad_crop_flip"]}[row]
    assert m["name"] == row and m["table"] == "cc_ablations" and list(m["recipe"]["tricks"]) == tricks
    assert m["counts"]["total"] == (89_578 if row == "pad_crop_flip" else 85_098)  # fc10 sees 3x3 maps at 24
    assert ("val10" in m["final"]) == (row != "pad_crop_flip")  # AlexNet's ten-view test beside the centre view
    assert 0 <= m["final"]["val"]["error"] <= 100 and m["final"]["val"]["loss"] < 10

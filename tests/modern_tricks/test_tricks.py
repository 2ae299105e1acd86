"""Each trick changes exactly what it claims; composition is order-free where it should be."""

import itertools

import pytest

from lecun1989.data import DataConfig
from lecun1989.model import ModelConfig
from lecun1989.recipe import Recipe
from modern_tricks import TRICKS, Stage, Trick, apply_tricks
from modern_tricks.trick import changed_fields, edit, flat_fields, register
from repro.config import ConfigError
from repro.train.loop import TrainerConfig
from repro.train.optim import OptimConfig

KARPATHY = ["softmax_ce", "adamw", "augment_shift", "dropout", "relu", "more_passes"]


def baseline() -> Recipe:
    return Recipe(data=DataConfig(), model=ModelConfig(), optim=OptimConfig(), trainer=TrainerConfig())


def apply(*names, **params):
    return apply_tricks(baseline(), {n: params.get(n, {}) for n in names})[0]


# What each trick alone does to the paper's recipe: exactly these fields, these values.
EXPECTED = {
    "softmax_ce": {"loss": "ce", "model.output_activation": "none", "optim.lr": 0.01},
    "adamw": {"optim.name": "adamw", "optim.lr": 3e-4, "optim.lr_final": 1e-4, "optim.schedule": "linear",
              "optim.weight_decay": 0.01},
    "augment_shift": {"augment.shift": 1},
    "augment_distort": {"augment.rotate": 10.0, "augment.scale": 0.1, "augment.shear": 0.1, "augment.elastic_alpha": 8.0,
                        "augment.elastic_sigma": 2.3},
    "swa": {"trainer.average": "swa"},  # average_start's default, 0.75, is the trick's too
    "dropout": {"model.dropout": 0.25},
    "relu": {"model.activation": "relu"},
    "more_passes": {"trainer.epochs": 80},
    "more_data": {"data.name": "mnist16", "data.n_train": 50000, "data.draw_order": "test_first"},
    "batchnorm": {"model.norm": "batch"},
    "wider": {"model.h1_maps": 24, "model.h2_maps": 24, "model.h3_units": 60},
    # The paper already has 12 H1 and 12 H2 maps: only H2's connectivity and H3 change (9,742 parameters).
    "rebalance": {"model.h2_scheme": "full", "model.h3_units": 24},
    "init_kaiming": {"model.init_scale": pytest.approx(5 / 3 * 3**0.5), "model.init_fan_in_power": 0.5,
                     "model.bias_init": "zero"},
    "init_karpathy": {"model.init_fan_in_power": 0.5, "model.bias_init": "zero"},
    "label_smoothing": {"label_smoothing": 0.1},
    "cosine_lr": {"optim.schedule": "cosine", "optim.lr_final": 0.0},
    "one_cycle": {"optim.schedule": "onecycle", "optim.lr": pytest.approx(0.09), "optim.lr_final": pytest.approx(0.0036)},
    "minibatch": {"trainer.batch_size": 32},
    "mixed_precision": {"trainer.precision": "bf16"},
}
NEEDS = {"label_smoothing": ["softmax_ce"], "batchnorm": ["minibatch"]}


def test_every_trick_has_an_expectation_and_an_origin():
    assert set(EXPECTED) == set(TRICKS)
    for t in TRICKS.values():
        assert t.origin and "\n" not in t.origin and any(c.isdigit() for c in t.origin), t.name  # names a year
        assert t.summary and "\n" not in t.summary


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_trick_changes_exactly_what_it_claims(name):
    helpers = NEEDS.get(name, [])
    before = apply(*helpers)
    after = apply(name, *helpers)
    changed = changed_fields(before, after)
    assert changed == set(EXPECTED[name]), f"{name} changed {sorted(changed)}"
    assert changed <= set(TRICKS[name].changes)
    assert {f: v for f, v in flat_fields(after).items() if f in changed} == EXPECTED[name]


def test_karpathys_tricks_compose_the_same_in_any_order():
    results = set()
    for perm in itertools.permutations(KARPATHY):
        recipe, applied = apply_tricks(baseline(), {n: {} for n in perm})
        results.add((recipe, tuple(a.name for a in applied)))
    assert len(results) == 1
    recipe, order = results.pop()
    # The documented order: data, architecture, loss, optimizer, training.
    assert order == ("augment_shift", "dropout", "relu", "softmax_ce", "adamw", "more_passes")
    # The optimizer stage replaces the SGD rate softmax_ce chose, whatever the list order.
    assert recipe.optim.name == "adamw" and recipe.optim.lr == 3e-4 and recipe.loss == "ce"


def test_init_follows_the_activation_it_is_scaled_for():
    assert apply("relu", "init_kaiming").model.init_scale == pytest.approx(2**0.5 * 3**0.5)
    assert apply("init_kaiming", "relu") == apply("relu", "init_kaiming")


@pytest.mark.parametrize("pair", [("cosine_lr", "one_cycle"), ("init_kaiming", "init_karpathy")])
def test_same_stage_tricks_on_one_field_are_refused(pair):
    with pytest.raises(ConfigError, match="both change"):
        apply(*pair)


@pytest.mark.parametrize("names", [("adamw", "cosine_lr", "one_cycle"), ("one_cycle", "adamw", "cosine_lr"),
                                   ("softmax_ce", "adamw", "cosine_lr", "one_cycle", "relu")])
def test_a_same_stage_clash_is_refused_among_three_or_more_tricks(names):
    """adamw sets the schedule at an earlier stage; the clash of cosine_lr and one_cycle is still refused."""
    with pytest.raises(ConfigError, match=r"cosine_lr and one_cycle both change optim\.\w+ at the schedule stage"):
        apply(*names)


def test_a_schedule_trick_replaces_adamws_decay():
    r = apply("adamw", "cosine_lr")
    assert (r.optim.name, r.optim.schedule, r.optim.lr, r.optim.lr_final) == ("adamw", "cosine", 3e-4, 0.0)


@pytest.mark.parametrize("names,message", [
    (["label_smoothing"], "needs the cross-entropy loss"),
    (["batchnorm"], "needs mini-batches"),
    (["no_such_trick"], "unknown trick"),
])
def test_combinations_that_cannot_work_are_refused_by_name(names, message):
    with pytest.raises(ConfigError, match=message):
        apply(*names)


@pytest.mark.parametrize("params,message", [({"p": 1.5}, "p must be in"), ({"rate": 0.1}, "unknown key")])
def test_bad_trick_parameters_are_config_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        apply_tricks(baseline(), {"dropout": params})


def test_trick_parameters_are_used():
    assert apply("more_passes", more_passes={"epochs": 46}).trainer.epochs == 46
    assert apply("softmax_ce", softmax_ce={"sgd_lr": None}).optim.lr == 0.03


def test_a_trick_that_touches_an_undeclared_field_is_caught():
    rogue = Trick(name="rogue_test_trick", origin="nobody 2026", summary="x", stage=Stage.LOSS, changes=("loss",),
                  apply=lambda r, p: edit(r, {"loss": "ce", "optim.lr": 1.0}))
    register(rogue)
    try:
        with pytest.raises(RuntimeError, match="does not declare"):
            apply("rogue_test_trick")
    finally:
        del TRICKS["rogue_test_trick"]

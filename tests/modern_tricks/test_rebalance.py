"""The `rebalance` trick: the 1989 network's 9,760 free parameters spent on other layer widths (issue 21).

Its default is the layout the validation search chose (H2 reads all 12 H1 maps, H3 has 24
units: 9,742 parameters); any layout above the paper's 9,760 is refused by name, so a
recipe of issue 21 cannot buy its error with more weights.
"""

import pytest

from lecun1989.data import DataConfig
from lecun1989.model import PAPER_COUNTS, ModelConfig, build_model
from lecun1989.recipe import Recipe, TrainerConfig
from modern_tricks import apply_tricks
from modern_tricks.architecture import BUDGET_1989
from repro.config import ConfigError
from repro.train.optim import OptimConfig



def recipe_of(selection) -> Recipe:
    base = Recipe(data=DataConfig(), model=ModelConfig(), optim=OptimConfig(), trainer=TrainerConfig())
    return apply_tricks(base, selection)[0]


def free_parameters(selection) -> int:
    return build_model(recipe_of(selection).model, 0).counts()["free_parameters"]


def test_the_budget_is_the_papers_count():
    assert BUDGET_1989 == PAPER_COUNTS["free_parameters"] == free_parameters({}) == 9760


def test_the_default_layout_has_9742_free_parameters_layer_by_layer():
    model = build_model(recipe_of({"rebalance": {}}).model, 0)
    sizes = {name: p.numel() for name, p in model.named_parameters()}
    # H1: 12 maps of 5x5 kernels + a bias per unit (8x8 units per map); H2: 12 maps reading all 12 H1
    # maps (5x5 each) + a bias per unit (4x4 per map); H3: 24 units over 192 H2 units + bias; out: 10 x (24 + 1).
    assert sizes == {"h1_w": 12 * 25, "h1_b": 768, "h2_w": 12 * 12 * 25, "h2_b": 192,
                     "h3_w": 24 * 192, "h3_b": 24, "out_w": 10 * 24, "out_b": 10}
    assert sum(sizes.values()) == model.counts()["free_parameters"] == 9742


@pytest.mark.parametrize("params,count", [
    ({"h2_maps": 15, "h3_units": 21, "h2_scheme": "three_groups"}, 9589),  # budget_search's candidates
    ({"h1_maps": 15, "h2_maps": 15, "h3_units": 17, "h2_scheme": "three_groups"}, 9602),
    ({"h3_units": 30, "h2_scheme": "three_groups"}, 9760),  # the paper's layout: exactly the budget, allowed
])
def test_layouts_within_the_budget_are_allowed(params, count):
    assert free_parameters({"rebalance": params}) == count


@pytest.mark.parametrize("selection,count", [
    ({"rebalance": {"h3_units": 40}}, "12,990"),
    ({"rebalance": {"h3_units": 25}}, "9,945"),  # one H3 unit more than the default: 203 over
    # BatchNorm's scales and shifts are free parameters too: the paper's layout with them is over.
    ({"rebalance": {"h3_units": 30, "h2_scheme": "three_groups"}, "batchnorm": {}, "minibatch": {}}, "9,868"),
])
def test_a_layout_over_the_budget_is_refused_with_its_count(selection, count):
    with pytest.raises(ConfigError) as err:
        recipe_of(selection)
    assert str(err.value) == f"trick rebalance: {count} free parameters, over the 1989 network's 9,760"


def test_rebalance_and_wider_are_refused_together():
    with pytest.raises(ConfigError, match=r"rebalance and wider both change model\.h3_units at the architecture stage"):
        recipe_of({"rebalance": {}, "wider": {}})


@pytest.mark.parametrize("params,message", [
    ({"h3_units": 0}, "must be >= 1"),
    ({"h2_scheme": "dense"}, "h2_scheme must be three_groups or full"),
])
def test_bad_parameters_are_config_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        recipe_of({"rebalance": params})


def test_an_impossible_h2_layout_is_a_config_error():
    with pytest.raises(ConfigError, match="divisible by 3"):
        recipe_of({"rebalance": {"h1_maps": 13, "h2_scheme": "three_groups"}})


# The fused CPU kernel trains the rebalanced nets as eager does: CASES of tests/lecun1989/test_fused_tricks.py.


def test_the_budget_check_asks_the_recipe_for_its_count():
    # modern_tricks imports no era: the recipe counts its own network (lecun1989's Recipe.free_parameters).
    from modern_tricks.architecture import REBALANCE

    class Counted:
        def __init__(self, n):
            self.n = n

        def free_parameters(self):
            return self.n

    assert recipe_of({}).free_parameters() == 9760
    assert REBALANCE.check(Counted(9760)) == []
    assert REBALANCE.check(Counted(9761)) == ["9,761 free parameters, over the 1989 network's 9,760"]
    assert REBALANCE.check(object()) == [
        "needs a recipe that counts its free parameters (object has no free_parameters())"]

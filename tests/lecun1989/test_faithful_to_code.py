"""Issue 17, the 1989 era: the paper's squashing function on the outputs too, the published numbers
exactly as published (Karpathy's implied miss counts, the paper's counts and MSE), and Karpathy's two inits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecun1989.model import ModelConfig, build_model
from lecun1989.recipe import recipe_from_config
from lecun1989.report.baseline import write_baseline
from lecun1989.report.published import (KARPATHY_2022_ROWS, LECUN_1989, implied_misses, karpathy_misses_caption,
                                        printed_misses)
from lecun1989.report import STYLE

from .test_experiments import composed


# -- 5. output units -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation,output,expected", [
    ("scaled_tanh", "hidden", "scaled_tanh"),   # the paper: every unit, outputs included
    ("tanh", "hidden", "tanh"),                 # Karpathy: plain tanh everywhere
    ("relu", "hidden", "tanh"),                 # ReLU hidden units keep squashed outputs
    ("scaled_tanh", "tanh", "tanh"),            # the previous behaviour, by name
    ("tanh", "none", "none"),
])
def test_output_units_follow_the_hidden_squashing_function(activation, output, expected):
    cfg = ModelConfig(activation=activation, output_activation=output)
    assert cfg.effective_output_activation == expected
    model = build_model(cfg, 0)
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    acts = model.layers(x)
    a = torch.nn.functional.linear(acts["h3"], model.out_w, model.out_b)
    want = {"scaled_tanh": 1.7159 * torch.tanh(a * 2.0 / 3.0), "tanh": torch.tanh(a), "none": a}[expected]
    torch.testing.assert_close(acts["out"], want)


def test_the_config_default_squashes_outputs_like_the_hidden_units():
    recipe, _ = recipe_from_config(composed("model.activation=scaled_tanh"))
    assert recipe.model.output_activation == "hidden" and recipe.model.effective_output_activation == "scaled_tanh"
    recipe, _ = recipe_from_config(composed())
    assert recipe.model.effective_output_activation == "tanh"  # the default (Karpathy's tanh) is unchanged


# -- 6. published numbers --------------------------------------------------------------------------------------

def test_karpathy_misses_are_the_counts_his_percentages_imply():
    implied = {row: v["test_misses"] for row, v in KARPATHY_2022_ROWS.items()}
    assert implied == {"baseline": 82, "mnist_baseline": 82, "softmax_ce": 88, "adamw": 72, "augment": 44,
                       "dropout_relu": 32, "more_data": 55, "all_more_data": 25}
    for row, v in KARPATHY_2022_ROWS.items():
        assert round(100 * v["test_misses"] / 2007, 2) == v["test_error"]
        # int(err.item() * N) on a float32 err reproduces each count he printed.
        assert printed_misses(v["test_misses"], 2007) == v["printed_test_misses"]
        err = torch.tensor([1.0] * v["test_misses"] + [0.0] * (2007 - v["test_misses"])).mean()
        assert int(err.item() * 2007) == v["printed_test_misses"]
    assert implied_misses(1.70, 7291) == 124 and printed_misses(124, 7291) == 123  # his augment row's train line
    with pytest.raises(ValueError, match="not one integer count"):
        implied_misses(4.36, 2007)  # no k/2,007 prints as 4.36%
    caption = karpathy_misses_caption()
    assert "one low in 4 rows" in caption and "`softmax_ce` 87" in caption and caption in STYLE.intro


def test_the_paper_numbers_include_its_stated_counts_and_mse(tmp_path):
    assert (LECUN_1989["train_misses"], LECUN_1989["test_misses"]) == (10, 102)
    assert (LECUN_1989["train_mse"], LECUN_1989["test_mse"]) == (2.5e-3, 1.8e-2)
    assert round(100 * 10 / 7291, 2) == LECUN_1989["train_error"]  # 0.14%
    import pandas as pd

    md, csv = write_baseline(pd.DataFrame(), [], tmp_path)
    row = next(line for line in md.read_text().splitlines() if line.startswith("| LeCun et al. 1989"))
    assert [c.strip() for c in row.strip("|").split("|")][4:9] == ["0.14", "5.00", "102", "0.0025", "0.0180"]
    karpathy = next(line for line in md.read_text().splitlines() if line.startswith("| Karpathy 2022"))
    assert [c.strip() for c in karpathy.strip("|").split("|")][6:9] == ["82", "0.0041", "0.0284"]


# -- 7. Karpathy's two inits -----------------------------------------------------------------------------------

def test_init_karpathy_says_which_script_and_repro_keeps_the_output_bias_at_minus_one():
    modern, _ = recipe_from_config(composed("trick=[init_karpathy]"))
    repro, applied = recipe_from_config(composed("trick=[init_karpathy]", "trick.init_karpathy.script=repro"))
    assert modern.model.output_bias is None and repro.model.output_bias == -1.0
    for recipe in (modern, repro):
        assert (recipe.model.init_scale, recipe.model.init_fan_in_power, recipe.model.bias_init) == (2.4, 0.5, "zero")
    m, r = build_model(modern.model, 0), build_model(repro.model, 0)
    assert m.out_b.tolist() == [0.0] * 10 and r.out_b.tolist() == [-1.0] * 10
    assert all(getattr(r, f"{layer}_b").abs().sum() == 0 for layer in ("h1", "h2", "h3"))
    # repro.py's winit: (rand - 0.5) * 2 * 2.4 / fan_in**0.5; the same bounds, and the same draws for both scripts.
    assert r.h3_w.abs().max() <= 2.4 / 192**0.5 and torch.equal(m.h3_w, r.h3_w)


def test_the_mnist_baseline_row_can_start_from_repro_py_init():
    cfg = composed("experiment=karpathy_table", "+row/karpathy_table=mnist_baseline", "trick=[init_karpathy]",
                   "trick.init_karpathy.script=repro")
    recipe, applied = recipe_from_config(cfg)
    assert cfg["name"] == "mnist_baseline" and recipe.data.name == "mnist16"
    assert [a.name for a in applied] == ["init_karpathy"] and recipe.model.output_bias == -1.0
    plain, applied = recipe_from_config(composed("experiment=karpathy_table", "+row/karpathy_table=mnist_baseline"))
    assert not applied and plain.model.output_bias is None  # as committed: the project's baseline init

"""Issue 21's experiment (conf/lecun1989/experiment/usps_budget.yaml): every row file is swept under
both protocols, every row stays within the 1989 budget, the path adds one change per row and ends
at the recipe the search chose (results/lecun1989/search/budget_search.csv), and each without_* row is
that recipe less exactly one change."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lecun1989.budget_search import RESULTS
from lecun1989.cli import CONF_DIR
from lecun1989.model import build_model
from lecun1989.recipe import recipe_from_config

PATH = ["baseline", "karpathy_six", "cosine_240", "swa", "adamw_lr_1e-3"]


def composed(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return OmegaConf.to_container(compose("lecun1989", overrides=list(overrides)), resolve=True)


def params():
    return yaml.safe_load(Path(CONF_DIR, "experiment", "usps_budget.yaml").read_text())["hydra"]["sweeper"]["params"]


def rows():
    return params()["+row/usps_budget"].split(",")


def recipe(row, protocol="final"):
    cfg = composed("experiment=usps_budget", f"+row/usps_budget={row}", f"+protocol={protocol}")
    r, applied = recipe_from_config(cfg)
    return cfg, r, {a.name for a in applied}


def test_every_row_file_is_swept_under_both_protocols():
    assert sorted(rows()) == sorted(p.stem for p in Path(CONF_DIR, "row", "usps_budget").glob("*.yaml"))
    assert params()["+protocol"] == "validation,final"
    assert rows()[: len(PATH)] == PATH and all(r.startswith("without_") for r in rows()[len(PATH):])


@pytest.mark.parametrize("row", rows())
def test_each_row_is_within_the_budget_and_its_protocols_differ_only_in_data(row):
    val_cfg, val, _ = recipe(row, "validation")
    fin_cfg, fin, _ = recipe(row, "final")
    assert build_model(fin.model, 0).counts()["free_parameters"] <= 9760
    assert (val.data.val_size, val.data.evaluate_test, fin.data.val_size, fin.data.evaluate_test) == (2000, False, 0, True)
    assert {k: v for k, v in val_cfg.items() if k != "data"} == {k: v for k, v in fin_cfg.items() if k != "data"}
    assert val_cfg["table"] == "usps_budget" and val_cfg["name"] == row


def test_the_path_ends_at_the_searchs_choice_and_each_ablation_removes_one_change():
    chosen = pd.read_csv(RESULTS / "budget_search.csv")
    final = chosen[chosen["chosen"]].iloc[-1]  # the last stage's choice: the search's answer
    _, best, best_tricks = recipe(PATH[-1])
    assert best_tricks == set(final["tricks"].split(","))
    assert final["parameters"] == "trick.adamw.lr=0.001 trick.more_passes.epochs=240"
    assert (best.trainer.epochs, best.optim.lr) == (240, 0.001)
    previous = set()
    for row in PATH:  # each path row adds to the one before
        _, _, tricks = recipe(row)
        assert previous <= tricks
        previous = tricks
    for row in rows()[len(PATH):]:
        _, r, tricks = recipe(row)
        removed = row.removeprefix("without_")
        assert removed == "adamw" or r.optim.lr == 0.001  # every other change of the best recipe kept
        if removed in best_tricks:
            assert tricks == best_tricks - {removed}
        else:  # without_cosine_240: Karpathy's 80 passes and AdamW's linear decay, SWA kept
            assert removed == "cosine_240" and tricks == best_tricks - {"cosine_lr"} and r.trainer.epochs == 80

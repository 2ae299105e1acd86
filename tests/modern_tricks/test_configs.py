"""The trick groups as Hydra composes them (as the apps do): each option is made
from its trick's Python declaration (modern_tricks/configs.py), and
modern_tricks/README.md is generated from the same declarations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException, MissingConfigException
from omegaconf import OmegaConf

from modern_tricks import GROUP_BY_ERA, TRICKS_BY_ERA, Stage, Trick, register_configs
from modern_tricks.catalogue import README, main as catalogue_main, render
from repro.config import parse

CONF = Path(__file__).resolve().parents[2] / "conf"
APP = {"lecun1989": "lecun1989", "alexnet2012": "alexnet2012"}  # era -> its primary config
ALL = [(era, name) for era, catalogue in TRICKS_BY_ERA.items() for name in sorted(catalogue)]


def config(era: str, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF / APP[era]), version_base="1.3"):  # each app its own tree
        return OmegaConf.to_container(compose(APP[era], overrides=list(overrides)), resolve=True)


@pytest.mark.parametrize("era,name", ALL)
def test_selecting_a_trick_gives_its_declared_defaults(era, name):
    group, trick = GROUP_BY_ERA[era], TRICKS_BY_ERA[era][name]
    selected = config(era, f"{group}=[{name}]")[group]
    assert selected == {name: dataclasses.asdict(trick.params())}
    assert parse(trick.params, selected[name], f"{group}.{name}") == trick.params()


@pytest.mark.parametrize("era", sorted(TRICKS_BY_ERA))
def test_every_trick_at_once_each_under_its_own_name(era):
    group = GROUP_BY_ERA[era]
    selected = config(era, f"{group}=[{','.join(TRICKS_BY_ERA[era])}]")[group]
    assert selected == {n: t.defaults() for n, t in TRICKS_BY_ERA[era].items()}


@pytest.mark.parametrize("era,overrides,expected", [
    ("lecun1989", ["trick=[adamw,dropout,more_passes]", "trick.dropout.p=0.5", "trick.more_passes.epochs=46"],
     {"adamw": {"lr": 3e-4, "lr_final": 1e-4, "weight_decay": 0.01}, "dropout": {"p": 0.5},
      "more_passes": {"epochs": 46}}),
    ("lecun1989", ["trick=[softmax_ce]", "trick.softmax_ce.sgd_lr=null"], {"softmax_ce": {"sgd_lr": None}}),
    ("alexnet2012", ["trick2012=[dropout,one_cycle]", "trick2012.dropout.p=0.3", "trick2012.one_cycle.peak=2"],
     {"dropout": {"p": 0.3}, "one_cycle": {"peak": 2, "final": 0.04, "warmup": 0.3}}),
])
def test_dotted_overrides_reach_the_parameters(era, overrides, expected):
    assert config(era, *overrides)[GROUP_BY_ERA[era]] == expected


def test_row_files_select_tricks_and_set_their_parameters():
    # conf/row/karpathy_table/adamw.yaml: `override /trick: [softmax_ce, adamw, more_passes]`, epochs 46.
    selected = config("lecun1989", "experiment=karpathy_table", "+row/karpathy_table=adamw")["trick"]
    assert selected == {"softmax_ce": {"sgd_lr": 0.01}, "adamw": {"lr": 3e-4, "lr_final": 1e-4, "weight_decay": 0.01},
                        "more_passes": {"epochs": 46}}
    assert config("alexnet2012", "experiment=cc_ablations", "+row/cc_ablations=dropout")["trick2012"] == {
        "dropout": {"p": 0.5}}


def test_an_unknown_parameter_is_refused_at_composition():
    with pytest.raises(HydraException, match=r"Could not override 'trick.dropout.q'"):
        config("lecun1989", "trick=[dropout]", "trick.dropout.q=1")


def test_an_unknown_trick_is_refused_with_the_valid_names():
    # A single choice: Hydra lists the group's options, i.e. the catalogue.
    with pytest.raises(MissingConfigException) as single:
        config("lecun1989", "trick=nope")
    listed = str(single.value).split("Available options in 'trick':")[1].split("Config search path")[0].split()
    assert listed == sorted(TRICKS_BY_ERA["lecun1989"])
    with pytest.raises(MissingConfigException) as single2012:
        config("alexnet2012", "trick2012=relu")
    assert all(f"\t{n}\n" in str(single2012.value) for n in TRICKS_BY_ERA["alexnet2012"])
    # A list (the usual form): Hydra names the missing option but lists none
    # (its defaults list expands list items without their group; no hook to change it).
    with pytest.raises(MissingConfigException, match=r"Could not load 'trick/nope'"):
        config("lecun1989", "trick=[adamw,nope]")


def test_no_trick_yaml_shadows_the_declarations():
    # Hydra's file source comes before the ConfigStore: a conf/trick/<name>.yaml
    # would silently replace the defaults declared in Python.
    assert not any((tree / group).exists() for tree in CONF.iterdir() for group in GROUP_BY_ERA.values())


def test_registering_again_changes_nothing():
    repo = ConfigStore.instance().repo
    before = {g: dict(repo[g]) for g in GROUP_BY_ERA.values()}
    register_configs()
    after = {g: dict(repo[g]) for g in GROUP_BY_ERA.values()}
    assert {g: sorted(v) for g, v in after.items()} == {g: sorted(v) for g, v in before.items()}
    assert all(after[g][k].node == before[g][k].node for g in after for k in after[g])


def test_summaries_are_rendered_from_the_defaults():
    dropout = TRICKS_BY_ERA["lecun1989"]["dropout"]
    assert "{p}" in dropout.template and "p=0.25" in dropout.summary
    assert "p=0.5" in dropout.describe(dropout.params(p=0.5))
    with pytest.raises(ValueError, match=r"summary names \['rate'\]"):
        Trick(name="typo", origin="nobody 2026", summary="dropout {rate}", stage=Stage.ARCHITECTURE,
              changes=("model.dropout",), apply=lambda r, p: r, params=type(dropout.params()))


def test_the_trick_readme_is_generated_from_the_catalogue():
    # If this fails: python -m modern_tricks.catalogue
    assert README.read_text() == render()
    assert catalogue_main(["--check"]) == 0
    for catalogue in TRICKS_BY_ERA.values():
        for trick in catalogue.values():
            assert f"`{trick.name}`" in README.read_text() and trick.summary in README.read_text()

"""Impossible or conflicting config values are refused with one ConfigError (one
`error:` line, exit 2) before a run claims its folder or reads data (issue 44,
causes 5 and 6). Each check walks what the apps compose, so a key or trick added
later is covered without a new case here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from modern_tricks.trick import TRICKS_BY_ERA
from repro.config import ConfigError, is_seed_key

APPS = ("lecun1989", "alexnet2012")
# Options that compose a run whose data is read from data.root (alexnet2012 on CPU: the device is checked too).
BASE = {"lecun1989": [], "alexnet2012": ["trainer.device=cpu"]}


def era(app):
    if app == "lecun1989":
        import lecun1989.cli as cli
    else:
        import alexnet2012.cli as cli
    return cli


def composed(app: str, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=era(app).CONF_DIR, version_base="1.3"):
        return OmegaConf.to_container(compose(config_name=app, overrides=[*BASE[app], *overrides]), resolve=True)


def refused(app: str, tmp_path: Path, *overrides: str) -> str:
    """The ConfigError message of running ``overrides`` (data.root empty, no download: a check
    left until after the data is read would fail with a DataError instead); nothing is made."""
    config = composed(app, f"data.root={tmp_path / 'no-data'}", "data.download=false", *overrides)
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError) as exc:
        era(app).run(config, run_dir)
    assert not run_dir.exists() and not (tmp_path / "no-data").exists()
    return str(exc.value)


def seed_keys(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from seed_keys(value, f"{path}.")
        elif is_seed_key(str(key)):
            yield path


def choices(app: str) -> list[list[str]]:
    """The app's default config, each experiment and each data option: where seed keys come from."""
    conf = Path(era(app).CONF_DIR)
    return [[], *([f"{group}={p.stem}"] for group in ("experiment", "data")
                  for p in sorted((conf / group).glob("*.yaml")))]


def every_seed_key(app: str) -> dict[str, list[str]]:
    """Every seed-like key the app composes -> a choice of options that has it and composes a valid recipe."""
    keys: dict[str, list[str]] = {}
    for choice in choices(app):
        config = composed(app, *choice)
        try:
            era(app).recipe_from_config(config)
        except ConfigError:  # a data option of another model (alexnet2012 data=cifar10 with AlexNet's crops)
            continue
        for key in seed_keys(config):
            keys.setdefault(key, choice)
    return keys


def test_the_walk_finds_the_data_seeds():
    assert {"seed", "data.val_seed", "data.subset_seed"} <= set(every_seed_key("lecun1989"))
    assert {"seed", "data.val_seed", "data.subset_seed"} <= set(every_seed_key("alexnet2012"))


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("value", [-1, -7, 2**32, 18446744073709551617])
def test_every_seed_key_is_range_checked(app, value, tmp_path):
    for key, choice in every_seed_key(app).items():
        message = refused(app, tmp_path / key, *choice, f"{key}={value}")
        assert f"{key}: {value} is out of range" in message, (key, message)


@pytest.mark.parametrize("app,overrides,says", [
    ("lecun1989", ["trainer.stop_split=validation", "trainer.stop_error=5"], "no split of that name"),
    ("lecun1989", ["trainer.stop_split=holdout", "trainer.stop_error=5"], "needs data.val_size > 0"),
    ("lecun1989", ["trainer.stop_split=test", "trainer.stop_error=5"], "test is this run's test set"),
    ("lecun1989", ["trainer.stop_error=5"], "without stop_split does nothing"),
    ("lecun1989", ["trainer.epochs=100000000000000000000"], "at most 100,000"),
    ("lecun1989", ["trainer.max_epochs=100000000000000000000"], "at most 100,000"),
    ("lecun1989", ["optim=sdlm", "trick=[adamw]"], "adamw does not apply to this run's optim"),
    ("alexnet2012", ["trainer.stop_split=val", "trainer.stop_error=5"], "val is this run's test set"),
    ("alexnet2012", ["trainer.stop_split=val10", "trainer.stop_error=5"], "val10 is this run's test set"),
    ("alexnet2012", ["trainer.stop_split=train", "trainer.stop_error=5"], "needs eval.train_subset > 0"),
    ("alexnet2012", ["trainer.stop_split=holdout", "trainer.stop_error=5"], "needs data.val_size > 0"),
    ("alexnet2012", ["trainer.epochs=100000000000000000000"], "at most 100,000"),
])
def test_impossible_values_are_refused_before_the_run(app, overrides, says, tmp_path):
    assert says in refused(app, tmp_path, *overrides)


def test_a_stop_split_the_run_evaluates_is_accepted():
    from lecun1989.recipe import recipe_from_config

    recipe, _ = recipe_from_config(composed("lecun1989", "trainer.stop_split=holdout", "trainer.stop_error=5",
                                            "data.val_size=100"))
    assert (recipe.trainer.stop_split, recipe.trainer.stop_error) == ("holdout", 5.0)


def test_no_optimizer_trick_runs_inside_sdlm(tmp_path):
    """Every trick that replaces the optimizer or what SDLM fixes itself (its schedule, no momentum or
    decay), now or added later, is refused on optim=sdlm: config.yaml would say sdlm while another ran."""
    replaces = {"optim.name", "optim.schedule", "optim.momentum", "optim.weight_decay"}
    tricks = [t.name for t in TRICKS_BY_ERA["lecun1989"].values() if replaces & set(t.changes)]
    assert "adamw" in tricks
    for name in tricks:
        message = refused("lecun1989", tmp_path / name, "optim=sdlm", f"trick=[{name}]")
        assert f"{name} does not apply to this run's optim" in message, message


def test_refused_value_is_one_line_exit_2_and_no_folder(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lecun1989.cli", "data.val_seed=-1", "trainer.threads=1",
                          f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300)
    assert (out.returncode, out.stderr.strip()) == (
        2, "error: data.val_seed: -1 is out of range; use an integer in [0, 2**32)"), out.stderr
    assert not (tmp_path / "run").exists()

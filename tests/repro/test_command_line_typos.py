"""A mistyped nested key or a launcher value the launcher cannot take is one
`error:` line naming the key and its group's valid keys, exit 2, before Hydra
runs (repro/precheck.py; issue 44, causes 5 and 7). Walks every group of both
apps, so a group added later is covered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from repro.app import CONF_ROOT, SHARED_CONF_DIR
from repro.precheck import check_command_line, top_level_keys

APPS = ("lecun1989", "alexnet2012")


def dirs(app):
    return [CONF_ROOT / app, SHARED_CONF_DIR]


def default_config(app) -> dict:
    import importlib

    importlib.import_module(f"{app}.cli")  # its trick group registered
    with initialize_config_dir(config_dir=str(CONF_ROOT / app), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name=app), resolve=False)


@pytest.mark.parametrize("app", APPS)
def test_a_typo_in_any_group_is_named_with_the_groups_keys(app):
    config = default_config(app)
    groups = [k for k in top_level_keys(CONF_ROOT / app / f"{app}.yaml") if isinstance(config.get(k), dict)
              and (CONF_ROOT / app / k).is_dir()]
    assert {"trainer", "data", "model", "optim"} <= set(groups)
    for group in groups:
        message = check_command_line(dirs(app), [f"{group}.no_such_key=1"])
        assert message is not None and message.startswith(f"unknown key {group}.no_such_key: {group} has no key"), \
            (group, message)
        # every key the composed group has is named as valid, and accepted
        for key in config[group]:
            assert f" {key}" in message.split("valid keys of", 1)[1], (group, key, message)
            assert check_command_line(dirs(app), [f"{group}.{key}=1"]) is None, (group, key)


@pytest.mark.parametrize("app", APPS)
def test_appended_and_deleted_keys_are_left_to_the_other_checks(app):
    assert check_command_line(dirs(app), ["~trainer.progress"]) is None
    assert check_command_line(dirs(app), ["++trainer.progress=false"]) is None


@pytest.mark.parametrize("value", ["0", "-2", "-7", "two", "1.5"])
def test_launcher_n_jobs_must_be_a_count(value):
    message = check_command_line(dirs("lecun1989"), ["-m", "hydra/launcher=local_parallel",
                                                      f"hydra.launcher.n_jobs={value}"])
    assert message == (f"hydra.launcher.n_jobs={value}: give the number of jobs to run at once (>= 1), "
                       "or -1 for one per CPU")


@pytest.mark.parametrize("value", ["1", "2", "-1"])
def test_launcher_n_jobs_counts_pass(value):
    assert check_command_line(dirs("lecun1989"), ["-m", f"hydra.launcher.n_jobs={value}"]) is None


@pytest.mark.parametrize("app", APPS)
def test_nested_typo_from_the_command_is_one_line_exit_2(app, tmp_path):
    out = subprocess.run([sys.executable, "-m", f"{app}.cli", "trainer.epoch=1", f"hydra.run.dir={tmp_path / 'r'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: unknown key trainer.epoch: trainer has no key 'epoch'; valid keys of "
                                 "trainer: ") and " epochs," in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "+trainer" not in out.stderr
    assert not (tmp_path / "r").exists()

"""The command-line pre-check (repro/precheck.py): an unknown group option or an
unwritable run directory is one line naming the valid choices or the folder,
before Hydra composes anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore

from repro.precheck import check_command_line, group_options


@pytest.fixture
def conf(tmp_path):
    """A config tree with a file group (colour/) and a Python-registered group (shape)."""
    root = tmp_path / "conf"
    (root / "colour").mkdir(parents=True)
    for name in ("red", "green"):
        (root / "colour" / f"{name}.yaml").write_text("{}\n")
    (root / "colour" / "notes.txt").write_text("not an option\n")
    ConfigStore.instance().store(group="precheck_shape", name="circle", node={"r": 1})
    ConfigStore.instance().store(group="precheck_shape", name="square", node={"a": 1})
    return root


def test_group_options_come_from_files_and_the_config_store(conf):
    assert group_options(conf, "colour") == ["green", "red"]
    assert group_options(conf, "precheck_shape") == ["circle", "square"]
    assert group_options(conf, "no_such_group") is None


@pytest.mark.parametrize("args,message", [
    (["colour=blue"], "unknown colour 'blue'; valid: green, red"),
    (["precheck_shape=[circle,hexagon]"], "unknown precheck_shape 'hexagon'; valid: circle, square"),
    (["+precheck_shape=[oval]"], "unknown precheck_shape 'oval'; valid: circle, square"),
    (["-m", "colour=red,blue"], "unknown colour 'blue'; valid: green, red"),  # a sweep
    (["-m", "precheck_shape=[circle],[oval]"], "unknown precheck_shape 'oval'; valid: circle, square"),
])
def test_an_unknown_option_lists_the_valid_ones(conf, args, message):
    assert check_command_line(conf, args) == message


@pytest.mark.parametrize("args", [
    [],
    ["colour=red", "precheck_shape=[circle,square]", "seed=3", "colour.depth=2"],
    ["colour=null", "~colour"],
    ["hydra/launcher=joblib", "-m", "seed=0,1"],  # Hydra's own groups are Hydra's to check
    ["unknown_group=x"],  # Hydra says what is wrong with it
    ["colour=[red"],  # unparseable: left to Hydra's message
])
def test_valid_or_foreign_overrides_pass(conf, args):
    assert check_command_line(conf, args) is None


def test_a_run_dir_under_a_file_is_refused(conf, tmp_path):
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "run"
    assert check_command_line(conf, [f"hydra.run.dir={target}"]) == (
        f"hydra.run.dir={target} cannot be created: {tmp_path / 'afile'} is a file, not a folder; "
        "choose another folder (hydra.run.dir=...)"
    )
    # a sweep writes hydra.sweep.dir; hydra.run.dir is then unused
    assert check_command_line(conf, ["-m", f"hydra.sweep.dir={target}"]).startswith(f"hydra.sweep.dir={target} cannot be created")
    assert check_command_line(conf, ["-m", f"hydra.run.dir={target}"]) is None
    # nothing is written for --help or --cfg
    assert check_command_line(conf, ["--cfg", "job", f"hydra.run.dir={target}"]) is None


def test_a_run_dir_in_an_unwritable_folder_is_refused(conf, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real_access(p, mode, **kw))
    message = check_command_line(conf, [f"hydra.run.dir={locked / 'a' / 'b'}"])
    assert message == (f"hydra.run.dir={locked / 'a' / 'b'} cannot be created: {locked} is not writable by this user "
                       "(permission denied or a read-only file system); choose another folder (hydra.run.dir=...)")


def test_a_failing_mkdir_is_refused_even_where_access_says_yes(conf, tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)  # root on a root-squashed share
    message = check_command_line(conf, [f"hydra.run.dir={tmp_path / 'new'}"])
    assert message.endswith(f"cannot create a folder in {tmp_path} (Permission denied); choose another folder (hydra.run.dir=...)")


def test_a_writable_or_interpolated_run_dir_passes_and_nothing_is_left_behind(conf, tmp_path):
    assert check_command_line(conf, [f"hydra.run.dir={tmp_path / 'new' / 'run'}"]) is None
    assert check_command_line(conf, ["hydra.run.dir=${oc.env:NOWHERE,/proc/x}"]) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]  # the probe folder is gone


@pytest.fixture
def apps(tmp_path):
    """Two apps' config trees: ours (colour: red) and another (colour: blue; its own group size)."""
    for app, group, option in (("ours", "colour", "red"), ("theirs", "colour", "blue"), ("theirs", "size", "big")):
        (tmp_path / app / group).mkdir(parents=True, exist_ok=True)
        (tmp_path / app / group / f"{option}.yaml").write_text("{}\n")
    return tmp_path


def test_another_apps_option_or_group_is_named_as_that_apps(apps):
    others = {"theirs": apps / "theirs"}
    assert check_command_line([apps / "ours"], ["colour=blue"], others) == (
        "unknown colour 'blue'; valid: red (blue is theirs's: run theirs colour=blue)")
    assert check_command_line([apps / "ours"], ["size=big"], others) == (
        "size is a config group of theirs, not of this command (run theirs size=big)")
    assert check_command_line([apps / "ours"], ["trick9=[a]"], others, {"trick9": "theirs"}) == (
        "trick9 is a config group of theirs, not of this command (run theirs trick9=[a])")
    assert check_command_line([apps / "ours"], ["colour=green"], others) == "unknown colour 'green'; valid: red"
    assert check_command_line([apps / "ours"], ["colour=red", "seed=1"], others) is None


def test_a_key_the_app_does_not_read_is_refused_appended_or_not(conf):
    keys = ["colour", "seed", "trainer"]
    valid = "valid top-level keys: colour, seed, trainer"
    assert check_command_line(conf, ["+foo=1"], top_keys=keys) == (
        f"unknown key foo (appended, but no part of this command reads it); {valid}")
    assert check_command_line(conf, ["-m", "++parallel.mode=none,ddp"], top_keys=keys) == (
        f"unknown key parallel.mode (appended, but no part of this command reads it); {valid}")
    assert check_command_line(conf, ["foo=1"], top_keys=keys) == (
        f"unknown key foo (not a key of this command's config); {valid}")
    # keys the app has, nested keys under them (their typed config checks those), groups, Hydra's own settings
    for args in (["seed=3"], ["+trainer.extra=1"], ["colour=red"], ["+precheck_shape=circle"],
                 ["hydra.run.dir=/tmp/x", "+hydra.job.env_set.A=1"], ["~foo"]):
        assert check_command_line(conf, args, top_keys=keys) is None, args


def test_top_level_keys_are_the_primary_configs_keys_and_its_groups(tmp_path):
    from repro.precheck import top_level_keys

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "x.yaml").write_text("# @package _global_\nseed: 1\n")
    (tmp_path / "app.yaml").write_text("defaults:\n  - _self_\n  - data: usps\n  - experiment: null\n"
                                       "  - override hydra/job_logging: repro\nname: a\nseed: 0\nhydra:\n  run: {}\n")
    assert top_level_keys(tmp_path / "app.yaml") == ["data", "name", "seed"]


@pytest.mark.parametrize("args, message", [
    (["-m", "seed=0,1", "--cfg", "job"],
     "-m/--multirun and --cfg together: give one of them (drop -m to see the config of one job of the sweep)"),
    (["--cfg", "job", "--info"], "--cfg and --info together: give one of them"),
    (["--multirun", "seed=1", "--info"], "-m/--multirun and --info together: give one of them"),
])
def test_two_of_hydras_modes_at_once_is_one_line(conf, args, message):
    # Hydra raises a bare ValueError (a traceback) for these.
    assert check_command_line(conf, args) == message


@pytest.mark.parametrize("args", [["-m", "seed=0,1"], ["--cfg", "job"], ["seed=1", "--info"]])
def test_one_mode_alone_is_hydras_to_run(conf, args):
    assert check_command_line(conf, args) is None

"""claim_run: a run folder's provenance is written once, by the run that owns
it, after it has taken the lock; a refused run touches nothing; resume=true
compares the requested config with the recorded one; stale temporary files
go when a run starts or resumes."""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repro.train import run as run_module
from repro.train.checkpoint import ResumeError
from repro.train.distributed import World
from repro.train.run import LOCK, claim_run, config_changes, provenance

ROOT = Path(__file__).resolve().parents[3]
CONFIG = {"name": "toy", "seed": 1, "resume": False, "optim": {"lr": 0.03}, "trick": {},
          "trainer": {"epochs": 2, "progress": False}}
HYDRA = {".hydra/config.yaml": "seed: 1\n", ".hydra/hydra.yaml": "hydra: {}\n", ".hydra/overrides.yaml": "- seed=1\n"}


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) -> a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def claim(folder: Path, config=CONFIG, resume=False, files=HYDRA):
    with provenance(files), claim_run(folder, config, resume=resume) as claimed:
        return claimed


def finished(folder: Path, config=CONFIG) -> Path:
    """A folder as a finished run leaves it."""
    claim(folder, config)
    (folder / "checkpoint.pt").write_bytes(b"weights")
    (folder / "metrics.json").write_text(json.dumps({"status": "complete", "seed": config["seed"]}))
    return folder


def interrupted(folder: Path, config=CONFIG) -> Path:
    """A folder as an interrupted run leaves it: a checkpoint, no metrics.json."""
    claim(folder, config)
    (folder / "checkpoint.pt").write_bytes(b"weights")
    return folder


def test_a_fresh_run_writes_config_and_provenance_after_taking_the_lock(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    seen = []
    real_write = run_module.write_text_atomic

    def write(path, text):
        # The lock is held while any record file is written.
        with open(folder / LOCK) as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen.append(str(Path(path).relative_to(folder)))
        real_write(path, text)

    monkeypatch.setattr(run_module, "write_text_atomic", write)
    claimed = claim(folder)
    assert claimed.finished is None
    assert seen == ["config.yaml", ".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"]
    assert yaml.safe_load((folder / "config.yaml").read_text()) == CONFIG
    assert {n: (folder / n).read_text() for n in HYDRA} == HYDRA


@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_a_refused_run_leaves_the_folder_byte_identical(tmp_path, state):
    folder = {"finished": finished, "interrupted": interrupted}[state](tmp_path / "run")
    (folder / ".checkpoint.pt.abcdefgh.tmp").write_bytes(b"half")  # even its garbage stays: a refused run touches nothing
    before = snapshot(folder)
    other = {**CONFIG, "seed": 2}
    with pytest.raises(ResumeError, match="never overwritten"):
        claim(folder, other, files={".hydra/overrides.yaml": "- seed=2\n"})
    assert snapshot(folder) == before


def test_a_run_refused_because_the_folder_is_locked_leaves_it_byte_identical(tmp_path):
    folder = tmp_path / "run"
    claim(folder)
    (folder / ".checkpoint.pt.abcdefgh.tmp").write_bytes(b"being written by the owner")
    before = snapshot(folder)
    with open(folder / LOCK, "a+") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the run that owns the folder
        with pytest.raises(ResumeError, match="in use by another run"):
            claim(folder, {**CONFIG, "seed": 2}, files={".hydra/overrides.yaml": "- seed=2\n"})
    assert snapshot(folder) == before


@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_resume_with_a_changed_config_is_refused_in_one_line_naming_the_keys(tmp_path, state):
    folder = {"finished": finished, "interrupted": interrupted}[state](tmp_path / "run")
    before = snapshot(folder)
    changed = {**CONFIG, "resume": True, "optim": {"lr": 0.3}, "trick": {"relu": {}}}
    with pytest.raises(ResumeError) as err:
        claim(folder, changed, resume=True, files={".hydra/overrides.yaml": "- optim.lr=0.3\n"})
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cannot resume {folder}: the config differs from the recorded one (config.yaml) in ")
    assert "optim.lr (recorded 0.03, now 0.3)" in message and "trick.relu (recorded <absent>, now {})" in message
    assert "resume (" not in message  # resume itself may differ
    assert snapshot(folder) == before


@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_resume_with_the_recorded_config_keeps_the_provenance_and_removes_stale_temps(tmp_path, state):
    folder = {"finished": finished, "interrupted": interrupted}[state](tmp_path / "run")
    (folder / ".checkpoint.pt.abcdefgh.tmp").write_bytes(b"half")
    (folder / ".hydra" / ".overrides.yaml.abcdefgh.tmp").write_bytes(b"half")
    recorded = {name: (folder / name).read_bytes() for name in ["config.yaml", *HYDRA]}
    # Only the keys that may differ (the resume flag, the progress bar) differ.
    same = {**CONFIG, "resume": True, "trainer": {**CONFIG["trainer"], "progress": True}}
    claimed = claim(folder, same, resume=True, files={n: "new\n" for n in HYDRA})
    assert (claimed.finished is not None) == (state == "finished")
    assert {name: (folder / name).read_bytes() for name in recorded} == recorded  # written once, by the run that started the folder
    assert not list(folder.rglob("*.tmp"))


def test_a_fresh_start_removes_stale_temps_and_rewrites_an_unfinished_folder(tmp_path):
    folder = tmp_path / "run"
    claim(folder)  # killed before its first checkpoint: config, no checkpoint
    (folder / ".checkpoint.pt.abcdefgh.tmp").write_bytes(b"half")
    claim(folder, {**CONFIG, "seed": 2}, files={".hydra/overrides.yaml": "- seed=2\n"})
    assert not list(folder.rglob("*.tmp"))
    assert yaml.safe_load((folder / "config.yaml").read_text())["seed"] == 2
    assert (folder / ".hydra/overrides.yaml").read_text() == "- seed=2\n"


KILLED_SAVE = """
import os, signal, sys
from repro.train.atomic import save_torch_atomic

class Bomb:
    def __reduce__(self):  # pickled in the middle of torch.save
        os.kill(os.getpid(), signal.SIGKILL)

save_torch_atomic(sys.argv[1], {"model": list(range(100000)), "later": Bomb()})
"""


def test_a_killed_save_leaves_no_orphan_after_the_next_start(tmp_path):
    folder = interrupted(tmp_path / "run")
    before = (folder / "checkpoint.pt").read_bytes()
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(folder / "checkpoint.pt")], cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr
    orphans = list(folder.glob(".checkpoint.pt.*.tmp"))
    assert len(orphans) == 1
    assert (folder / "checkpoint.pt").read_bytes() == before  # the old checkpoint survives the kill
    claim(folder, {**CONFIG, "resume": True}, resume=True)
    assert not list(folder.glob("*.tmp"))
    assert (folder / "checkpoint.pt").read_bytes() == before


def test_a_non_main_process_checks_but_writes_nothing(tmp_path, monkeypatch):
    finished(tmp_path / "done")
    monkeypatch.setattr(run_module, "current_world", lambda: World(rank=1, size=2))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".checkpoint.pt.abcdefgh.tmp").write_bytes(b"half")
    claim(folder)
    assert [p.name for p in folder.iterdir()] == [".checkpoint.pt.abcdefgh.tmp"]  # no lock, config or provenance
    with pytest.raises(ResumeError, match=r"optim.lr \(recorded 0.03, now 0.3\)"):
        claim(tmp_path / "done", {**CONFIG, "optim": {"lr": 0.3}}, resume=True)


def test_config_changes_sees_nested_empty_and_absent_keys():
    assert config_changes(CONFIG, {**CONFIG, "resume": True, "trainer": {"epochs": 2, "progress": True}}) == []
    assert config_changes({"trick": {}}, {"trick": {"relu": {}}}) == ["trick.relu (recorded <absent>, now {})"]
    assert config_changes({"a": {"b": 1}}, {"a": {}}) == ["a.b (recorded 1, now <absent>)"]
    assert config_changes({"a": None}, {}) == ["a (recorded None, now <absent>)"]
    assert config_changes({"lr_final": float("nan")}, {"lr_final": float("nan")}) == []
    assert config_changes({}, {"data": {"root": "x"}}) == ["data (recorded <absent>, now {'root': 'x'})"]
    long = config_changes({"x": "a" * 100}, {"x": "b"})[0]
    assert long.startswith("x (recorded 'aaa") and "...," in long and len(long) < 80


def test_an_unreadable_recorded_config_is_one_line_and_touches_nothing(tmp_path):
    folder = finished(tmp_path / "run")
    (folder / "config.yaml").write_text("seed: [1,\n  oops: {\n")
    before = snapshot(folder)
    with pytest.raises(ResumeError) as err:
        claim(folder, {**CONFIG, "resume": True}, resume=True)
    assert "\n" not in str(err.value) and "its recorded config" in str(err.value) and "is unreadable (" in str(err.value)
    assert snapshot(folder) == before


def test_a_run_recorded_before_the_validation_split_existed_resumes_as_without_one():
    from repro.train.checkpoint import config_differences
    from repro.train.run import config_changes

    old = {"data": {"name": "usps"}, "seed": 0}
    same = {"data": {"name": "usps", "val_size": 0, "val_seed": 0}, "seed": 0, "logger": {"name": "csv"}}
    held = {"data": {"name": "usps", "val_size": 100, "val_seed": 0}, "seed": 0}
    assert config_changes(old, same) == [] and config_differences(old, same) == []
    assert config_changes(old, held) == ["data.val_size (recorded 0, now 100)"]
    assert config_differences(old, held) == ["data.val_size: checkpoint 0 vs now 100"]

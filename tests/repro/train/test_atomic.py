"""Atomic writes leave record files readable as the umask allows, and a killed
write's temporary file is found and removed by the next run (run.claim_run)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from repro.train.atomic import (
    is_temp_name,
    remove_stale_temps,
    save_torch_atomic,
    write_json_atomic,
    write_text_atomic,
)

ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test, restored after."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_record_files_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    write_text_atomic(tmp_path / "config.yaml", "seed: 0\n")
    write_json_atomic(tmp_path / "metrics.json", {"status": "complete"})
    save_torch_atomic(tmp_path / "checkpoint.pt", {"a": 1})
    for name in ("config.yaml", "metrics.json", "checkpoint.pt"):
        assert mode(tmp_path / name) == 0o666 & ~mask, name
    # Replacing a file gives the new one the same rule (not the old file's mode, not 0600).
    umask(0o022)
    write_text_atomic(tmp_path / "config.yaml", "seed: 1\n")
    assert mode(tmp_path / "config.yaml") == 0o644


def test_temp_names_are_recognised_and_only_they_are_removed(tmp_path):
    keep = ["checkpoint.pt", ".lock", ".hydra", "notes.tmp", ".checkpoint.pt.tmp", ".x.ABCDEFGH.tmp"]
    stale = [".checkpoint.pt.k3_9zq1a.tmp", ".metrics.json.abcdefgh.tmp"]
    for name in keep[:2] + keep[3:] + stale:
        (tmp_path / name).write_text("x")
    (tmp_path / ".hydra").mkdir()
    assert [n for n in keep + stale if is_temp_name(n)] == stale
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    assert remove_stale_temps(tmp_path / "missing") == []


KILLED_SAVE = """
import os, signal, sys
from repro.train.atomic import write_atomic

def write(f):
    f.write(b"half a checkpoint")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer, mid-write

write_atomic(sys.argv[1], write)
"""


def test_a_killed_save_leaves_a_temp_file_that_the_write_machinery_recognises(tmp_path):
    target = tmp_path / "checkpoint.pt"
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == -9
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".checkpoint.pt.") and is_temp_name(leftovers[0])
    assert not target.exists()
    assert [p.name for p in remove_stale_temps(tmp_path)] == leftovers
    assert list(tmp_path.iterdir()) == []

"""A run or a sweep owns its folder, and a refusal leaves the file system as it was
(issue 44, causes 1, 2 and 4), through the real commands:

1. a run (hydra.run.dir, or a sweep job's folder) claims a folder only if it is
   absent, empty or a run record of ours; any other contents are refused in one
   line, exit 2, untouched (names, bytes, mtimes);
2. a sweep claims its hydra.sweep.dir whole (repro/sweep_claim.py): a second sweep,
   or resume=true with other arguments, is refused before any job starts, naming
   the keys; multirun.yaml is never rewritten; a folder of the older code (only
   multirun.yaml and job folders) resumes with its printed command;
4. every class of refusal, single run and sweep, both apps where it applies,
   leaves the folder absent (it was) or unchanged (it held a record).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ENV.pop("REPRO_DATA_ROOT", None)


def tree(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (hidden ones, folders, the folder itself) -> (kind, bytes, mtime)."""
    out = {".": ("dir", None, folder.stat().st_mtime_ns)}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = ("dir", None, st.st_mtime_ns) if p.is_dir() else \
            ("file", p.read_bytes(), st.st_mtime_ns)
    return out


def app(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    args = (["-m"] if "-m" in args else []) + [a for a in args if a != "-m"]  # Hydra reads flags first
    return subprocess.run([sys.executable, "-m", f"{name}.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**ENV, **(env or {})})


def lecun(root: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return app("lecun1989", f"data.root={root}", "data.verify=false", "trainer.epochs=1", "trainer.threads=1",
               *args, **kw)


def refused(out: subprocess.CompletedProcess, *expected: str) -> str:
    lines = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert out.returncode == 2 and lines and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "unrecognized arguments" not in out.stderr, out.stderr[-3000:]
    for text in expected:
        assert text in out.stderr, out.stderr[-3000:]
    return lines[0]


# ---- 1. a run never claims a folder that is not its own ---------------------------------------

def _users_files(d: Path) -> None:  # the case: the user's own config, history and notes
    (d / "config.yaml").write_text("lr: 0.1\n")
    (d / "history.csv").write_text("epoch,loss\n1,0.5\n")
    (d / "notes.txt").write_text("my notes\n")


FOREIGN = {
    "users_config_history_notes": _users_files,
    "our_names_without_a_record": lambda d: ((d / "config.yaml").write_text("seed: 0\n"),
                                             (d / "history.csv").write_text("pass\n")),
    "one_foreign_file": lambda d: (d / "data.bin").write_bytes(os.urandom(64)),
    "a_foreign_folder": lambda d: ((d / "photos").mkdir(), (d / "photos" / "a.jpg").write_bytes(b"jpg")),
    "a_foreign_file_in_dot_hydra": lambda d: ((d / ".hydra").mkdir(), (d / ".hydra" / "mine.txt").write_text("x")),
    "a_record_name_that_is_a_folder": lambda d: ((d / "metrics.json").mkdir(), (d / ".lock").write_text("")),
    "a_hidden_file": lambda d: (d / ".env").write_text("SECRET=1\n"),
}


@pytest.mark.parametrize("how", ["run", "sweep_job"])
@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_folder_with_anything_not_ours_is_refused_and_left_untouched(usps_root, tmp_path, kind, how):
    folder = tmp_path / "mine"
    folder.mkdir()
    FOREIGN[kind](folder)
    os.utime(folder, ns=(1, 1_000_000_000))  # an old mtime: any write would show
    before = tree(folder)
    if how == "run":
        out = lecun(usps_root, f"hydra.run.dir={folder}")
    else:  # a sweep job whose folder is the user's (an absolute subdir): its sweep folder is made for nothing
        out = lecun(usps_root, "-m", "seed=0", f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.sweep.subdir={folder}")
        assert not (tmp_path / "sweep").exists()
    assert "it is left untouched" in refused(out)
    assert tree(folder) == before


def test_a_record_of_ours_is_still_ours_and_a_foreign_file_beside_it_is_refused(usps_root, tmp_path):
    run = tmp_path / "run"
    assert lecun(usps_root, f"hydra.run.dir={run}").returncode == 0
    assert lecun(usps_root, "resume=true", f"hydra.run.dir={run}").returncode == 0  # read back
    (run / "notes.txt").write_text("seed 0 looked odd\n")
    before = tree(run)
    assert "notes.txt" in refused(lecun(usps_root, "resume=true", f"hydra.run.dir={run}"))
    assert tree(run) == before


# ---- 2. a sweep owns its folder ---------------------------------------------------------------

def sweep(root: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    return lecun(root, "-m", f"hydra.sweep.dir={folder}", *args)


def test_a_second_sweep_or_a_changed_resume_is_refused_whole_and_multirun_yaml_kept(usps_root, tmp_path):
    folder = tmp_path / "sweep"
    assert sweep(usps_root, folder, "seed=0,1").returncode == 0
    first = tree(folder)
    multirun = (folder / "multirun.yaml").read_bytes()
    # A later sweep into the same folder, same or other arguments: refused before any job starts.
    for args in (["seed=0,1"], ["seed=2,3"]):
        out = sweep(usps_root, folder, *args)
        assert "already holds a sweep" in refused(out) and "Launching" not in out.stdout + out.stderr
        assert tree(folder) == first
    # resume=true with other arguments: the differing keys named, no job run (not even a never-started one).
    out = sweep(usps_root, folder, "seed=0,1,2", "optim.lr=0.1", "resume=true")
    line = refused(out, "seed (recorded 0,1, now 0,1,2)", "optim.lr (recorded <absent>, now 0.1)")
    assert "cannot resume the sweep" in line and not (folder / "2_baseline_seed2").exists()
    assert tree(folder) == first
    # resume=true with the same arguments: read back, multirun.yaml byte-identical.
    out = sweep(usps_root, folder, "seed=0,1", "resume=true", "trainer.progress=false")
    assert out.returncode == 0, out.stderr[-2000:]
    assert (folder / "multirun.yaml").read_bytes() == multirun


def test_a_concurrent_sweep_into_a_folder_in_use_is_refused(usps_root, tmp_path):
    import fcntl

    folder = tmp_path / "sweep"
    folder.mkdir()
    with open(folder / ".sweep.lock", "a+") as other:  # another sweep holds it
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = tree(folder)
        assert "in use by another sweep" in refused(sweep(usps_root, folder, "seed=0,1"))
        assert tree(folder) == before


def legacy(folder: Path) -> None:
    """The folder as the older code leaves it: multirun.yaml and job folders, no sweep record or lock."""
    (folder / "sweep.yaml").unlink()
    (folder / ".sweep.lock").unlink()


def test_a_sweep_folder_of_the_older_code_resumes_and_refuses_other_arguments(usps_root, tmp_path):
    import fcntl

    folder = tmp_path / "sweep"
    assert sweep(usps_root, folder, "seed=0,1", "trainer.epochs=2").returncode == 0
    legacy(folder)
    (folder / "1_baseline_seed1" / "metrics.json").unlink()  # job 1 interrupted after its last checkpoint
    multirun = (folder / "multirun.yaml").read_bytes()
    before = tree(folder)
    out = sweep(usps_root, folder, "seed=0,2", "trainer.epochs=2", "resume=true")
    refused(out, "multirun.yaml", "seed (recorded 0,1, now 0,2)")
    assert tree(folder) == before
    # A job of it still running under the older code (its run lock held): in use.
    with open(folder / "1_baseline_seed1" / ".lock", "a+") as running:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert "is in use" in refused(sweep(usps_root, folder, "seed=0,1", "trainer.epochs=2", "resume=true"))
    assert tree(folder) == before
    # The command the older code printed resumes it.
    out = sweep(usps_root, folder, "seed=0,1", "trainer.epochs=2", "resume=true")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((folder / "1_baseline_seed1" / "metrics.json").read_text())["status"] == "complete"
    assert (folder / "multirun.yaml").read_bytes() == multirun


# ---- 4. every refusal leaves the folder absent or unchanged -----------------------------------

def _usps(root: Path, train: bytes | None, test: bytes | None = None) -> Path:
    (root / "usps").mkdir(parents=True)
    for name, data in (("zip.train.gz", train), ("zip.test.gz", test)):
        if data is not None:
            (root / "usps" / name).write_bytes(data)
    return root


def lecun_data(kind: str, tmp: Path, good: Path) -> tuple[Path, list[str]]:
    """A data root with one kind of broken USPS data, and the extra arguments."""
    train, test = (good / "usps" / "zip.train.gz").read_bytes(), (good / "usps" / "zip.test.gz").read_bytes()
    root = tmp / f"data_{kind}"
    if kind == "checksum":
        return good, ["data.verify=true"]
    if kind == "truncated":
        return _usps(root, train[: len(train) // 2], test), []
    if kind == "empty":
        return _usps(root, b"", test), []
    if kind == "random_bytes":
        return _usps(root, os.urandom(4096), test), []
    if kind == "wrong_shape":
        return _usps(root, gzip.compress(b"1 0.5 0.5 0.5\n2 0.1 0.1 0.1\n"), test), []
    if kind == "missing_file":
        return _usps(root, train, None), ["data.download=false"]
    if kind == "root_is_a_file":
        tmp.mkdir(exist_ok=True)
        (tmp / "a_file").write_text("not a folder")
        return tmp / "a_file", ["data.download=false"]
    raise AssertionError(kind)


LECUN_REFUSALS = {
    "val_size_out_of_range": ["data.val_size=100000"],
    "unknown_backend": ["trainer.backend=nope"],
    "sdlm_with_a_batch": ["optim=sdlm", "trainer.batch_size=10"],
    **{f"data_{k}": k for k in ("checksum", "truncated", "empty", "random_bytes", "wrong_shape", "missing_file",
                                 "root_is_a_file")},
}


def _lecun_args(case: str, usps_root: Path, tmp: Path) -> tuple[Path, list[str], dict]:
    spec = LECUN_REFUSALS[case]
    if isinstance(spec, str):
        root, extra = lecun_data(spec, tmp / "roots", usps_root)
        return root, extra, {}
    return usps_root, list(spec), {}


@pytest.mark.parametrize("how", ["run", "sweep"])
@pytest.mark.parametrize("case", sorted(LECUN_REFUSALS))
def test_every_lecun1989_refusal_leaves_no_folder(usps_root, tmp_path, case, how):
    root, extra, env = _lecun_args(case, usps_root, tmp_path)
    out_dir = tmp_path / "new" / "nested" / "run"
    where = [f"hydra.run.dir={out_dir}"] if how == "run" else ["-m", "seed=0,1", f"hydra.sweep.dir={out_dir}"]
    out = lecun(root, *extra, *where, env=env)
    print(refused(out))
    assert not (tmp_path / "new").exists(), sorted(str(p) for p in (tmp_path / "new").rglob("*"))
    assert "unfinished or interrupted" not in out.stdout + out.stderr


@pytest.mark.parametrize("case", ["val_size_out_of_range", "data_truncated", "data_missing_file",
                                  "data_root_is_a_file", "unknown_backend"])
def test_a_refused_resume_leaves_the_interrupted_record_unchanged(usps_root, tmp_path, case):
    run = tmp_path / "run"
    assert lecun(usps_root, "trainer.epochs=2", f"hydra.run.dir={run}").returncode == 0
    (run / "metrics.json").unlink()  # as a run stopped after its last checkpoint leaves it
    before = tree(run)
    root, extra, env = _lecun_args(case, usps_root, tmp_path)
    # The same config but for the refused value (what differs from the record is refused at the claim).
    out = lecun(root, "trainer.epochs=2", *extra, "resume=true", f"hydra.run.dir={run}", env=env)
    print(refused(out))
    assert tree(run) == before


def test_a_build_folder_that_cannot_be_made_leaves_no_run_folder(usps_root, tmp_path):
    (tmp_path / "build_is_a_file").write_text("")
    out_dir = tmp_path / "new" / "run"
    out = lecun(usps_root, "trainer.backend=fused_cpu", f"hydra.run.dir={out_dir}",
                env={"REPRO_BUILD_DIR": str(tmp_path / "build_is_a_file" / "sub")})
    assert out.returncode != 0
    assert not (tmp_path / "new").exists()

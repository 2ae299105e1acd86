"""A run folder's provenance (config.yaml, .hydra/, cli.log) through the
`lecun1989` command: written once, by the run that owns the folder; a refused
run leaves the folder byte-identical; resume=true with a changed config is
refused in one line naming the keys (finished and interrupted runs, sweeps)."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

import yaml

from repro.train.run import LOCK

ROOT = Path(__file__).resolve().parents[2]


def lecun1989(*args):
    return subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (.hydra/, cli.log, .lock included) -> a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(out) -> str:
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def base(usps_root):
    return [f"data.root={usps_root}", "data.verify=false", "trainer.epochs=1", "trainer.batch_size=10"]


def test_the_run_writes_the_files_hydra_would_with_the_same_text(usps_root, tmp_path):
    # hydra.output_subdir set again: Hydra writes its own copy (.by_hydra), the run writes .hydra.
    run_dir = tmp_path / "run"
    out = lecun1989(*base(usps_root), "seed=1", "optim.lr=0.05", f"hydra.run.dir={run_dir}", "hydra.output_subdir=.by_hydra")
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        assert (run_dir / ".hydra" / name).read_bytes() == (run_dir / ".by_hydra" / name).read_bytes(), name
    assert yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) == [
        f"data.root={usps_root}", "data.verify=false", "trainer.epochs=1", "trainer.batch_size=10", "seed=1", "optim.lr=0.05"]


def test_refused_runs_leave_a_finished_folder_byte_identical(usps_root, tmp_path):
    run_dir = tmp_path / "run"
    assert lecun1989(*base(usps_root), "seed=1", f"hydra.run.dir={run_dir}").returncode == 0
    hydra_yaml = (run_dir / ".hydra" / "hydra.yaml").read_text()
    assert "  output_subdir: .hydra\n" in hydra_yaml  # as Hydra itself would have recorded it
    assert yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())[-1] == "seed=1"
    before = snapshot(run_dir)

    # Finished: another seed into the same folder.
    error = one_line_error(lecun1989(*base(usps_root), "seed=2", f"hydra.run.dir={run_dir}"))
    assert "already holds a finished run" in error
    assert snapshot(run_dir) == before

    # Locked: another process owns the folder.
    with open(run_dir / LOCK, "a+") as owner:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        error = one_line_error(lecun1989(*base(usps_root), "seed=2", f"hydra.run.dir={run_dir}"))
    assert "is in use by another run" in error
    assert snapshot(run_dir) == before

    # resume=true with a different config.
    error = one_line_error(lecun1989(*base(usps_root), "seed=1", "optim.lr=0.3", "trick=[relu]", "resume=true",
                                     f"hydra.run.dir={run_dir}"))
    assert error.startswith(f"error: cannot resume {run_dir}: the config differs from the recorded one (config.yaml) in ")
    assert "optim.lr (recorded 0.03, now 0.3), trick (recorded <absent>, now {'relu': {}})" in error
    assert snapshot(run_dir) == before

    # resume=true with the recorded config (the progress bar may differ): read back; provenance unchanged.
    out = lecun1989(*base(usps_root), "seed=1", "trainer.progress=true", "resume=true", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "is already complete; nothing to resume" in out.stdout
    after = snapshot(run_dir)
    assert {k: v for k, v in after.items() if k != "cli.log"} == {k: v for k, v in before.items() if k != "cli.log"}


def test_resume_of_an_interrupted_run_with_a_changed_config_is_refused(usps_root, tmp_path):
    run_dir = tmp_path / "run"
    assert lecun1989(*base(usps_root), "trainer.epochs=2", f"hydra.run.dir={run_dir}").returncode == 0
    (run_dir / "metrics.json").unlink()  # as a run stopped after its last checkpoint leaves it
    before = snapshot(run_dir)
    error = one_line_error(lecun1989(*base(usps_root), "trainer.epochs=3", "resume=true", f"hydra.run.dir={run_dir}"))
    assert "trainer.epochs (recorded 2, now 3)" in error
    assert snapshot(run_dir) == before
    out = lecun1989(*base(usps_root), "trainer.epochs=2", "resume=true", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert (run_dir / "metrics.json").exists()
    assert yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())[-1] == "trainer.epochs=2"  # the starting run's


def test_resume_of_a_finished_sweep_with_a_changed_config_is_refused(usps_root, tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1", *base(usps_root), f"hydra.sweep.dir={sweep}"]
    assert lecun1989(*args).returncode == 0
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0_baseline_seed0", "1_baseline_seed1"]
    before = {job.name: snapshot(job) for job in jobs}
    out = lecun1989(*args, "optim.lr=0.3", "trick=[relu]", "resume=true")
    # Refused whole, before any job starts (repro/sweep_claim.py), naming the keys.
    error = one_line_error(out)
    assert error.startswith(f"error: cannot resume the sweep in {sweep}: its arguments differ from the recorded ones")
    assert "optim.lr (recorded <absent>, now 0.3)" in error and "trick (recorded <absent>, now [relu])" in error
    assert {job.name: snapshot(job) for job in jobs} == before
    for job in jobs:
        assert "optim.lr=0.3" not in (job / ".hydra" / "overrides.yaml").read_text()

"""A sweep job refused for a user error (a bad value, a folder another sweep
holds or finished) is one `error:` line; the other jobs run, the sweep's summary
is printed, and the command exits 2 (issue 37, items 1 and 3), under Hydra's
basic launcher and ours (local_parallel, each job its own process)."""

import fcntl
import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
LAUNCHERS = {"basic": [], "local_parallel": ["hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2"]}


def lecun1989(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True,
                          timeout=300, env=ENV)


def sweep(usps_root, folder, launcher, *overrides):
    return lecun1989("-m", f"data.root={usps_root}", "data.verify=false", "trainer.epochs=1", "trainer.backend=eager",
                     f"hydra.sweep.dir={folder}", *LAUNCHERS[launcher], *overrides)


def error_lines(out: subprocess.CompletedProcess) -> list[str]:
    return sorted(line for line in out.stderr.splitlines() if line.startswith("error:"))


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_bad_job_is_one_line_and_the_sweep_still_summarises(usps_root, tmp_path, launcher):
    folder = tmp_path / "sweep"
    out = sweep(usps_root, folder, launcher, "model.h2_maps=6,7")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert error_lines(out) == [
        "error: 1 job(s) of the sweep refused (see their error lines above)",
        "error: sweep job 1_baseline_seed0: model: h2_scheme=three_groups needs h1_maps and h2_maps divisible by 3, "
        "got 12 and 7 (or model.h2_scheme=full)"]
    assert f"sweep {folder}: 1 finished run(s) in 1 row(s)" in out.stdout
    assert (folder / "0_baseline_seed0" / "metrics.json").is_file()
    assert not (folder / "1_baseline_seed0").exists()  # refused before it wrote anything


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_second_sweep_into_the_same_folder_refuses_each_job_in_one_line(usps_root, tmp_path, launcher):
    folder = tmp_path / "sweep"
    assert sweep(usps_root, folder, "basic", "seed=0,1").returncode == 0
    # Job 0 finished; job 1's folder held by another process still running it (its lock taken here).
    (folder / "1_baseline_seed1" / "metrics.json").unlink()
    with open(folder / "1_baseline_seed1" / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # While a job of the folder runs, any sweep into it, a resume too, is refused whole before any job.
        for extra in ((), ("resume=true",)):
            out = sweep(usps_root, folder, launcher, "seed=0,1", *extra)
            assert out.returncode == 2 and "Traceback" not in out.stderr and "ResumeError" not in out.stderr, out.stderr
            assert error_lines(out) == [
                f"error: {folder} is in use: its job 1_baseline_seed1 is running (locked: "
                f"{folder / '1_baseline_seed1' / '.lock'}); wait for its sweep to end, or choose another hydra.sweep.dir"]
    # Once it is free: a second sweep is still refused whole (the folder holds a sweep) ...
    out = sweep(usps_root, folder, launcher, "seed=0,1")
    assert out.returncode == 2 and error_lines(out) == [
        f"error: {folder} already holds a sweep (sweep.yaml); a sweep folder is never shared by two sweeps: "
        "pass resume=true with the same arguments to continue it, or choose another hydra.sweep.dir"], out.stderr
    # ... and its resume reads job 0 back and finishes job 1.
    out = sweep(usps_root, folder, launcher, "seed=0,1", "resume=true")
    assert out.returncode == 0 and not error_lines(out), out.stderr
    assert f"sweep {folder}: 2 finished run(s) in 1 row(s)" in out.stdout

"""Ctrl-C on a joblib sweep, for real: the `lecun1989` command in its own
process group, SIGINT to the whole group (what a terminal's Ctrl-C does), then
the one resume command it prints; and a joblib worker killed outright."""

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from repro.train.interrupt import MESSAGE

JOBS = ("0_baseline_seed0", "1_baseline_seed1")


def start_sweep(usps_root: Path, sweep: Path) -> subprocess.Popen:
    args = ["-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"data.root={usps_root}",
            "data.verify=false", "trainer.epochs=40", f"hydra.sweep.dir={sweep}"]
    return subprocess.Popen([sys.executable, "-m", "lecun1989.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def wait_until_both_trained_a_pass(proc: subprocess.Popen, sweep: Path) -> None:
    deadline = time.monotonic() + 180
    while not all((sweep / job / "history.csv").exists() for job in JOBS):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep's jobs did not start"
        time.sleep(0.2)


def test_ctrl_c_on_a_joblib_sweep_checkpoints_every_job_and_prints_one_resume_command(usps_root, tmp_path):
    sweep = tmp_path / "sweep"
    proc = start_sweep(usps_root, sweep)
    wait_until_both_trained_a_pass(proc, sweep)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    for bad in ("Traceback", "BrokenProcessPool", "TypeError", "TerminatedWorkerError"):
        assert bad not in err, err
    assert err.count(MESSAGE) == 2  # each job said it heard the signal
    for job in JOBS:  # every job stopped at a step, checkpointed, unfinished
        assert (sweep / job / "checkpoint.pt").is_file() and not (sweep / job / "metrics.json").exists()
        assert f"interrupted: checkpoint saved in {sweep / job}" in err
    assert f"interrupted: every job of the sweep stopped in {sweep} (2 with a checkpoint, 0 finished)" in err
    hints = [line for line in err.splitlines() if line.startswith("resume the sweep with: ")]
    assert len(hints) == 1 and "resume with:" not in err, err  # one command, none per job
    app, *args = shlex.split(hints[0].removeprefix("resume the sweep with: "))
    assert app == "cli.py" and args[0] == "-m" and "hydra.run.dir" not in hints[0]
    assert args[-2:] == ["resume=true", f"hydra.sweep.dir={sweep}"] and "seed=0,1" in args

    resumed = subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    for job in JOBS:
        assert f"resuming {sweep / job} at pass" in resumed.stdout + resumed.stderr
        assert '"status": "complete"' in (sweep / job / "metrics.json").read_text()


def loky_workers(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"LokyProcess" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def test_a_killed_joblib_worker_ends_the_sweep_with_its_resume_command(usps_root, tmp_path):
    # loky's pool breaks when a worker dies and it kills the workers beside it
    # (SIGKILL): each job keeps its last checkpoint (here the end of pass 1 or
    # later), and the command prints how to resume the whole sweep.
    sweep = tmp_path / "sweep"
    proc = start_sweep(usps_root, sweep)
    wait_until_both_trained_a_pass(proc, sweep)
    workers = loky_workers(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1
    assert "a sweep worker died; joblib stopped the jobs running beside it (each keeps its last checkpoint)." in err
    hint = [line for line in err.splitlines() if line.startswith("resume the sweep with: ")]
    assert len(hint) == 1 and hint[0].endswith(f"resume=true hydra.sweep.dir={sweep}")
    for job in JOBS:
        assert (sweep / job / "checkpoint.pt").is_file() and not (sweep / job / "metrics.json").exists()

"""Sweeps of the real `lecun1989` command, in its own process group as from a
terminal: Ctrl-C (SIGINT to the whole group) and the one resume command it
prints; one job's process killed outright (with local_parallel the other job
runs to the end, with joblib loky kills it too); and a plain sweep under
local_parallel leaving the same job folders and records as under joblib."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from repro.train.interrupt import MESSAGE

JOBS = ("0_baseline_seed0", "1_baseline_seed1")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def sweep_args(usps_root: Path, sweep: Path, launcher: str, epochs: int) -> list[str]:
    return ["-m", "seed=0,1", f"hydra/launcher={launcher}", "hydra.launcher.n_jobs=2", f"data.root={usps_root}",
            "data.verify=false", f"trainer.epochs={epochs}", f"hydra.sweep.dir={sweep}"]


def start_sweep(usps_root: Path, sweep: Path, launcher: str = "local_parallel") -> subprocess.Popen:
    # eager: 40 passes that last long enough to interrupt (the fused default finishes them in a blink)
    args = [*sweep_args(usps_root, sweep, launcher, 40), "trainer.backend=eager"]
    return subprocess.Popen([sys.executable, "-m", "lecun1989.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=ENV)


def lecun1989(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True,
                          timeout=300, env=ENV)


def wait_until_both_trained_a_pass(proc: subprocess.Popen, sweep: Path) -> None:
    deadline = time.monotonic() + 180
    while not all((sweep / job / name).exists() for job in JOBS for name in ("history.csv", "checkpoint.pt")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep's jobs did not start"
        time.sleep(0.2)


def children(parent: int, marker: bytes) -> dict[int, bytes]:
    """pid -> command line of the parent's child processes whose command line holds marker."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and marker in cmdline:
            found[int(stat.parent.name)] = cmdline
    return found


def the_resume_command(err: str, sweep: Path) -> list[str]:
    hints = [line for line in err.splitlines() if line.startswith("resume the sweep with: ")]
    assert len(hints) == 1 and "resume with:" not in err, err  # one command, none per job
    app, *args = shlex.split(hints[0].removeprefix("resume the sweep with: "))
    assert app == "cli.py" and args[0] == "-m" and "hydra.run.dir" not in hints[0]
    assert args[-2:] == ["resume=true", f"hydra.sweep.dir={sweep}"] and "seed=0,1" in args
    return args


@pytest.mark.parametrize("launcher", ["local_parallel", "joblib"])
def test_ctrl_c_on_a_sweep_checkpoints_every_job_and_prints_one_resume_command(usps_root, tmp_path, launcher):
    sweep = tmp_path / "sweep"
    proc = start_sweep(usps_root, sweep, launcher)
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
    args = the_resume_command(err, sweep)
    assert f"hydra/launcher={launcher}" in args

    resumed = lecun1989(*args)
    assert resumed.returncode == 0, resumed.stderr
    for job in JOBS:
        assert f"resuming {sweep / job} at pass" in resumed.stdout + resumed.stderr
        assert '"status": "complete"' in (sweep / job / "metrics.json").read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_sweeps_own_process_stops_every_job_at_its_next_step(usps_root, tmp_path, sig):
    """`kill -INT <the command>` (not its process group): the launcher forwards the stop to the jobs,
    which checkpoint at their next step, as a terminal's Ctrl-C does (issue 37, item 9). `kill
    <the command>` (SIGTERM) does the same: no job is left running orphaned (issue 44, cause 2)."""
    sweep = tmp_path / "sweep"
    proc = start_sweep(usps_root, sweep)
    wait_until_both_trained_a_pass(proc, sweep)
    workers = children(proc.pid, b"repro_launcher._worker")
    assert len(workers) == 2
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count(MESSAGE) == 2, err
    for job in JOBS:  # stopped mid-run (40 passes), not run to the end
        assert (sweep / job / "checkpoint.pt").is_file() and not (sweep / job / "metrics.json").exists()
    assert f"interrupted: every job of the sweep stopped in {sweep} (2 with a checkpoint, 0 finished)" in err
    the_resume_command(err, sweep)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # no orphan


def test_a_killed_job_costs_only_its_own_job(usps_root, tmp_path):
    # local_parallel: each job its own process; SIGKILL one and the other trains on to the end.
    sweep = tmp_path / "sweep"
    proc = start_sweep(usps_root, sweep)
    wait_until_both_trained_a_pass(proc, sweep)
    workers = children(proc.pid, b"hydra_plugins.repro_launcher._worker")
    assert len(workers) == 2, workers
    job0 = [pid for pid, cmdline in workers.items() if b"/0.job\0" in cmdline]
    os.kill(job0[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    killed, other = (sweep / job for job in JOBS)
    assert json.loads((other / "metrics.json").read_text())["status"] == "complete"
    assert (killed / "checkpoint.pt").is_file() and not (killed / "metrics.json").exists()
    assert "1 of 2 jobs failed:" in out  # the launcher lists the failed job
    assert re.search(rf"#0 : seed=0 .*: JobDied: its process was killed by SIGKILL before the job ended: {killed}\n", out)
    assert (f"a sweep job's process was killed by SIGKILL: {killed}; its last checkpoint is kept, and the other "
            f"jobs ran on (1 with a checkpoint, 1 finished)") in err
    args = the_resume_command(err, sweep)

    finished = (other / "metrics.json").read_bytes()
    resumed = lecun1989(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} at pass" in resumed.stdout + resumed.stderr
    assert json.loads((killed / "metrics.json").read_text())["status"] == "complete"
    assert (other / "metrics.json").read_bytes() == finished  # the finished job read back, untouched


def test_a_killed_joblib_worker_ends_the_sweep_with_its_resume_command(usps_root, tmp_path):
    # With hydra/launcher=joblib, loky's pool breaks when a worker dies and it
    # kills the workers beside it (SIGKILL): each job keeps its last checkpoint
    # (here the end of pass 1 or later), and the command prints how to resume
    # the whole sweep. (local_parallel exists to avoid this: the test above.)
    sweep = tmp_path / "sweep"
    proc = start_sweep(usps_root, sweep, "joblib")
    wait_until_both_trained_a_pass(proc, sweep)
    workers = list(children(proc.pid, b"LokyProcess"))
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1
    assert "a sweep worker died; joblib stopped the jobs running beside it (each keeps its last checkpoint)." in err
    hint = [line for line in err.splitlines() if line.startswith("resume the sweep with: ")]
    assert len(hint) == 1 and hint[0].endswith(f"resume=true hydra.sweep.dir={sweep}")
    for job in JOBS:
        assert (sweep / job / "checkpoint.pt").is_file() and not (sweep / job / "metrics.json").exists()


TIMES = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]", re.M)
# A pass's durations in its log line (0.0 s or 0.1 s on a loaded machine): the clock too.
DURATIONS = re.compile(r"done in [\d.]+ s, elapsed [\d:]+(, ETA [\d:]+)?")


def without_times(value):
    """A record's values, less the clock: wall times, speeds, timestamps."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if not k.endswith(("_s", "_at"))}
    return value


def record(job: Path, sweep: Path, launcher: str) -> dict[str, object]:
    """What a job folder holds, comparable across sweeps: every file by name,
    each in the form it can be compared in, the clock and the sweep's own
    folder and launcher taken out."""
    def text(name: str) -> str:
        return (job / name).read_text().replace(str(sweep), "SWEEP")

    hydra = yaml.safe_load(text(".hydra/hydra.yaml"))["hydra"]
    assert hydra["launcher"]["_target_"].split(".")[-1] == {"joblib": "JoblibLauncher",
                                                            "local_parallel": "LocalParallelLauncher"}[launcher]
    del hydra["launcher"], hydra["runtime"]["choices"]["hydra/launcher"]
    hydra["overrides"]["hydra"].remove(f"hydra/launcher={launcher}")
    history = [row.split(",") for row in text("history.csv").splitlines()]
    timed = [i for i, name in enumerate(history[0]) if name.endswith("_s")]
    model = torch.load(job / "model.pt", map_location="cpu")
    with np.load(job / "misclassified.npz") as missed:
        misses = {k: missed[k].tolist() for k in missed.files}
    return {
        "files": sorted(str(p.relative_to(job)) for p in job.rglob("*")),
        "hydra": hydra,
        "history": [[v for i, v in enumerate(row) if i not in timed] for row in history],
        "metrics": without_times(json.loads(text("metrics.json"))),
        "log": DURATIONS.sub("done in [DURATION]", TIMES.sub("[TIME]", text("cli.log"))),
        "model": {k: v.tolist() for k, v in (model.items() if isinstance(model, dict) else model.state_dict().items())},
        "misclassified": misses,
        **{name: text(name) for name in ("config.yaml", ".hydra/config.yaml", ".hydra/overrides.yaml",
                                         "environment.json")},
    }


def test_a_sweep_under_local_parallel_leaves_the_folders_and_records_joblib_leaves(usps_root, tmp_path):
    records = {}
    for launcher in ("local_parallel", "joblib"):
        sweep = tmp_path / launcher
        done = lecun1989(*sweep_args(usps_root, sweep, launcher, 2))
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in sweep.iterdir()) == sorted([*JOBS, "multirun.yaml", "sweep.yaml", ".sweep.lock"])
        records[launcher] = {job: record(sweep / job, sweep, launcher) for job in JOBS}
    assert records["local_parallel"] == records["joblib"]
    assert records["joblib"]["1_baseline_seed1"]["hydra"]["job"]["num"] == 1
    assert records["joblib"]["1_baseline_seed1"]["metrics"]["status"] == "complete"

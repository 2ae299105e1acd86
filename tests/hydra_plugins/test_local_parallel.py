"""The local_parallel launcher (hydra_plugins/repro_launcher/): Hydra's own
launcher test suite; then a plain Hydra app (no repro code), to show that a job
that dies or fails costs only itself, that n_jobs bounds how many run at once,
and that Ctrl-C starts no further job; the experiments that use it; and the
sweep's resume command the repro apps print for what it reports
(tests/lecun1989/test_sweep_interrupt.py runs the real command)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from hydra_plugins.repro_launcher._core import n_jobs
from hydra_plugins.repro_launcher.local_parallel import JobDied, JobStopped
from repro.app import conf_dir
from repro.cli_errors import sweep_interrupts


def test_hydra_launcher_suite_passes_in_a_fresh_process():
    """The tests Hydra gives every launcher plugin (hydra_suite_cases.py), in a process of
    their own: they assume Hydra's process-wide state (version_base) untouched by other tests."""
    cases = Path(__file__).with_name("hydra_suite_cases.py")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(cases)],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and "9 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


APP = textwrap.dedent('''
    import os, signal, time
    from pathlib import Path

    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base="1.3", config_path=None, config_name=None)
    def main(cfg):
        out = Path(HydraConfig.get().runtime.output_dir)
        (out / "began").write_text(repr(time.time()))
        if cfg.x == "raise":
            raise ValueError("bad x")
        if cfg.x == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60 if cfg.x == "wait" else 0.3)
        (out / "ended").write_text(repr(time.time()))
        return cfg.x

    if __name__ == "__main__":
        main()
''')


def start_app(tmp_path: Path, *args: str) -> subprocess.Popen:
    (tmp_path / "app.py").write_text(APP)
    return subprocess.Popen([sys.executable, str(tmp_path / "app.py"), "-m", "hydra/launcher=local_parallel",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_a_job_that_dies_or_fails_costs_only_itself(tmp_path):
    proc = start_app(tmp_path, "+x=raise,kill,a,b", "hydra.launcher.n_jobs=2")
    out, err = proc.communicate(timeout=120)
    sweep = tmp_path / "sweep"
    assert proc.returncode == 1, err
    for job in ("2", "3"):  # started beside and after the dead one, both ran to the end
        assert (sweep / job / "ended").is_file(), out + err
    assert not (sweep / "0" / "ended").exists() and not (sweep / "1" / "ended").exists()
    assert "2 of 4 jobs failed:" in out
    assert "#0 : +x=raise: ValueError: bad x" in out
    assert f"#1 : +x=kill: JobDied: its process was killed by SIGKILL before the job ended: {sweep / '1'}" in out
    assert "bad x" in err  # Hydra raises the first failure, as with any launcher


def test_n_jobs_bounds_the_jobs_running_at_once(tmp_path):
    proc = start_app(tmp_path, "+x=a,b,c", "hydra.launcher.n_jobs=1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    times = [[float((tmp_path / "sweep" / str(i) / name).read_text()) for name in ("began", "ended")]
             for i in range(3)]
    assert all(ended <= times[i + 1][0] for i, (_, ended) in enumerate(times[:-1])), times  # one after another


def test_ctrl_c_starts_no_further_job_and_waits_for_the_running_one(tmp_path):
    proc = start_app(tmp_path, "+x=wait,a,b", "hydra.launcher.n_jobs=1")
    sweep = tmp_path / "sweep"
    deadline = time.monotonic() + 60
    while not (sweep / "0" / "began").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)  # the waiting job stopped at once: well before its 60 s
    assert proc.returncode == 1, err
    assert f"#0 : +x=wait: JobStopped: interrupted while it ran: {sweep / '0'}" in out
    for job in ("1", "2"):
        assert f"#{job} : +x={'ab'[int(job) - 1]}: JobStopped: interrupted before it started: {sweep / job}" in out
        assert not (sweep / job).exists()
    assert "Traceback" not in err


def test_n_jobs_is_a_count_or_minus_one():
    assert n_jobs(3) == 3
    assert n_jobs(-1) == len(os.sched_getaffinity(0))
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf"hydra.launcher.n_jobs={bad}: give the number of jobs to run at once "
                                             r"\(>= 1\), or -1 for one per CPU"):
            n_jobs(bad)


@pytest.mark.parametrize("app, experiment, at_once", [("lecun1989", "karpathy_table", 2),
                                                      ("lecun1989", "ablate_each", 2),
                                                      ("alexnet2012", "cc_ablations", 1)])
def test_the_experiments_sweep_with_local_parallel(app, experiment, at_once):
    with initialize_config_dir(config_dir=conf_dir(app), version_base="1.3"):
        cfg = compose(app, overrides=[f"experiment={experiment}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == "hydra_plugins.repro_launcher.local_parallel.LocalParallelLauncher"
    assert cfg.hydra.launcher.n_jobs == at_once


def hydra_reports(exc: Exception) -> None:
    """What Hydra does with a failed job's error: prints it and exits 1, the error as the context."""
    try:
        raise exc
    except Exception:
        sys.exit(1)


def test_the_command_prints_the_sweeps_resume_command_for_a_job_that_died_or_never_started(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["/venv/bin/lecun1989"])
    sweep = tmp_path / "sweep"
    for job, record in (("0_a", "checkpoint.pt"), ("1_b", "metrics.json")):
        (sweep / job).mkdir(parents=True)
        (sweep / job / record).write_text("")
    argv = ["-m", "seed=0,1,2", "hydra/launcher=local_parallel"]
    resume = f"resume the sweep with: lecun1989 -m seed=0,1,2 hydra/launcher=local_parallel resume=true " \
             f"hydra.sweep.dir={sweep}"

    for job, kept in (("0_a", "its last checkpoint is kept"), ("2_c", "it had no checkpoint yet")):
        with pytest.raises(SystemExit) as exit_, sweep_interrupts(argv):
            hydra_reports(JobDied("its process was killed", sweep / job, sweep, "killed by SIGKILL"))
        assert exit_.value.code == 1  # Hydra's exit: a failed job
        assert capsys.readouterr().err == (
            f"\na sweep job's process was killed by SIGKILL: {sweep / job}; {kept}, and the other jobs ran on "
            f"(1 with a checkpoint, 1 finished)\n{resume}\n")

    with pytest.raises(SystemExit) as exit_, sweep_interrupts(argv):
        hydra_reports(JobStopped(f"interrupted before it started: {sweep / '2_c'}", sweep / "2_c", sweep))
    assert exit_.value.code == 130
    assert capsys.readouterr().err == (
        f"\ninterrupted: every job of the sweep stopped in {sweep} (1 with a checkpoint, 1 finished)\n{resume}\n")

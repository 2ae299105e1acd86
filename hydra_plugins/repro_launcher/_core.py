"""The work of the local_parallel launcher (see local_parallel.py): compose
each job's sweep config here, as Hydra's launchers do, start one worker
process per job (_worker.py), at most n_jobs at once, and turn what each
leaves behind into the JobReturn Hydra's sweeper reads."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from .local_parallel import JobDied, JobStopped, LocalParallelLauncher

try:
    import cloudpickle
except ImportError:  # joblib (a dependency of Hydra's joblib launcher) vendors it
    from joblib.externals import cloudpickle

log = logging.getLogger(__name__)

WORKER = "hydra_plugins.repro_launcher._worker"
POLL_S = 0.05
# The folder that holds hydra_plugins/ (this checkout, or site-packages): the worker is imported from it.
PLUGIN_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class _Job:
    idx: int
    overrides: list[str]
    config: DictConfig  # the job's sweep config, composed here as Hydra's launchers compose it
    run_dir: Path
    proc: subprocess.Popen | None = None
    ret: JobReturn | None = None


def n_jobs(value: int) -> int:
    if value == -1:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"hydra.launcher.n_jobs={value}: give the number of jobs to run at once (>= 1), "
                         f"or -1 for one per CPU")
    return value


def launch(launcher: LocalParallelLauncher, job_overrides: Sequence[Sequence[str]],
           initial_job_idx: int) -> list[JobReturn]:
    setup_globals()
    assert launcher.config is not None and launcher.hydra_context is not None
    assert launcher.task_function is not None
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    at_once = n_jobs(launcher.n_jobs)
    log.info(f"LocalParallel(n_jobs={at_once}) is launching {len(job_overrides)} jobs, each in its own process")
    log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
    with _Interrupted().installed() as interrupted:
        jobs = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_config = job_sweep_config(launcher, list(overrides), idx)
            jobs.append(_Job(idx, list(overrides), job_config, job_run_dir(job_config)))
        shared = (launcher.hydra_context, launcher.task_function, Singleton.get_state())
        workdir = Path(tempfile.mkdtemp(prefix="local_parallel-"))
        try:
            _run_all(jobs, at_once, shared, workdir, sweep_dir.absolute(), interrupted)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    _list_failed(jobs)
    return [job.ret for job in jobs]


def job_sweep_config(launcher: LocalParallelLauncher, overrides: list[str], idx: int) -> DictConfig:
    """The job's config, with the id and number Hydra's joblib launcher gives it."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    with open_dict(cfg):
        cfg.hydra.job.id = f"{cfg.hydra.job.name}_{idx}"
        cfg.hydra.job.num = idx
    return cfg


def job_run_dir(cfg: DictConfig) -> Path:
    """hydra.sweep.dir/hydra.sweep.subdir, resolved as Hydra's run_job resolves them."""
    hydra_config = HydraConfig.instance()
    old = hydra_config.cfg
    hydra_config.set_config(cfg)
    try:
        return Path(os.path.abspath(os.path.join(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir))))
    finally:
        hydra_config.cfg = old


class _Interrupted:
    """SIGINT or SIGTERM in the launcher's process (a terminal's Ctrl-C, `kill -INT`
    or `kill` of the command): start no further job, and pass each one on to the
    running jobs as SIGINT (each in a process group of its own, so this is the one
    copy they get), which stop at their next step and checkpoint; the command then
    prints the sweep's resume command. Its jobs are never left running orphaned."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.set = False
        self.count = 0  # SIGINTs received; each is forwarded once (a second one: stop without saving)
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ARG002
        self.set = True
        self.count += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Interrupted]:
        main = threading.current_thread() is threading.main_thread()
        if main:
            self._old = {sig: signal.signal(sig, self._handler) for sig in self.SIGNALS}
        try:
            yield self
        finally:
            for sig, old in self._old.items():
                signal.signal(sig, old)


def _run_all(jobs: list[_Job], at_once: int, shared: tuple, workdir: Path, sweep_dir: Path,
             interrupted: _Interrupted) -> None:
    pending, running = deque(jobs), []
    forwarded = 0
    try:
        while pending or running:
            while pending and len(running) < at_once and not interrupted.set:
                job = pending.popleft()
                _start(job, shared, workdir)
                running.append(job)
            while forwarded < interrupted.count:
                forwarded += 1
                for job in running:
                    with contextlib.suppress(OSError):
                        job.proc.send_signal(signal.SIGINT)
            if interrupted.set and pending:
                log.warning(f"interrupted: starting none of the {len(pending)} jobs left; "
                            f"waiting for the {len(running)} running to stop")
                for job in pending:
                    job.ret = _failed(job, JobStopped(f"interrupted before it started: {job.run_dir}",
                                                      job.run_dir, sweep_dir))
                pending.clear()
            for job in [j for j in running if j.proc.poll() is not None]:
                running.remove(job)
                job.ret = _collect(job, workdir, sweep_dir)
            if running:
                time.sleep(POLL_S)
    except BaseException:
        # The launcher itself failed: the running jobs stop as at a SIGTERM (checkpoint) and are waited for.
        for job in running:
            with contextlib.suppress(OSError):
                job.proc.terminate()
        for job in running:
            job.proc.wait()
        raise


def _start(job: _Job, shared: tuple, workdir: Path) -> None:
    hydra_context, task_function, singleton_state = shared
    payload, result = workdir / f"{job.idx}.job", workdir / f"{job.idx}.result"
    with open(payload, "wb") as f:
        pickle.dump(list(sys.path), f)  # read first, so the job unpickles with the launcher's import path
        cloudpickle.dump((hydra_context, job.config, task_function, singleton_state), f)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PLUGIN_ROOT, env.get("PYTHONPATH")) if p)
    # SIGINT blocked across the start: the worker unblocks it once it can handle it, so a
    # Ctrl-C during its start-up waits for it instead of being lost or killing it mid-import.
    # A process group of its own: a terminal's Ctrl-C reaches the launcher only, which forwards
    # it (_Interrupted), as it does a SIGINT sent to the command's process alone.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        job.proc = subprocess.Popen([sys.executable, "-m", WORKER, str(payload), str(result)], env=env,
                                    process_group=0)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _collect(job: _Job, workdir: Path, sweep_dir: Path) -> JobReturn:
    try:
        with open(workdir / f"{job.idx}.result", "rb") as f:
            kind, value = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        code = job.proc.returncode
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
        return _failed(job, JobDied(f"its process was {how} before the job ended: {job.run_dir}",
                                    job.run_dir, sweep_dir, how))
    if kind == "returned":
        return value
    if kind == "interrupted":  # value: whether the job's task had begun
        when = "while it ran" if value else "before it started"
        return _failed(job, JobStopped(f"interrupted {when}: {job.run_dir}", job.run_dir, sweep_dir))
    return _failed(job, value)  # "error": what ended the job outside its task function


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _failed(job: _Job, exc: BaseException) -> JobReturn:
    task_cfg = copy.deepcopy(job.config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    return JobReturn(overrides=OmegaConf.to_container(job.config.hydra.overrides.task), cfg=task_cfg,
                     hydra_cfg=OmegaConf.masked_copy(job.config, "hydra"), working_dir=os.getcwd(),
                     task_name=str(job.config.hydra.job.name), status=JobStatus.FAILED, _return_value=exc)


def _list_failed(jobs: list[_Job]) -> None:
    failed = [job for job in jobs if job.ret.status is not JobStatus.COMPLETED]
    if not failed:
        return
    log.error(f"{len(failed)} of {len(jobs)} jobs failed:")
    for job in failed:
        log.error(f"\t#{job.idx} : {' '.join(filter_overrides(job.overrides))}: "
                  f"{type(job.ret._return_value).__name__}: {job.ret._return_value}")

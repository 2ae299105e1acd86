"""`hydra/launcher=local_parallel`: a sweep's jobs on this machine, each in a
process of its own, at most `n_jobs` at a time.

    lecun1989 -m seed=0,1,2,3 hydra/launcher=local_parallel hydra.launcher.n_jobs=2

Hydra's joblib launcher runs jobs in loky's pool: when one worker dies (killed,
out of memory) the pool breaks and loky kills the workers beside it, so one
dead job costs every running job its progress. Here each job is one fresh
Python process (`python -m hydra_plugins.repro_launcher._worker`) that runs
what a joblib worker runs (Hydra's `run_job` on the job's sweep config, composed
and numbered as the joblib launcher does it, so the job folder, `${hydra.job.num}`
and the job's records are the same) and hands its JobReturn back through a file:

- a job whose process dies is reported failed (`JobDied`, naming the signal or
  exit code and the job's folder); the other jobs carry on to the end;
- Ctrl-C (a terminal's, or SIGINT sent to the command's process alone) reaches
  the launcher, which passes it on to every running job (each job has a process
  group of its own, so it gets exactly that copy) and starts no further job
  (`JobStopped`); each job stops at its next step and checkpoints, and the
  launcher waits for those clean stops to complete.

The parent blocks SIGINT while it starts a job and the job unblocks it once it
can handle it, so a Ctrl-C during a job's start-up is delivered, not lost.

This module is imported by Hydra's plugin scan at every start-up, so it holds
only the config, the exceptions and the class; the work is in _core.py.
"""

# No `from __future__ import annotations`: Hydra's plugin scan runs this module before
# putting it in sys.modules, where @dataclass would look up string annotations.
from dataclasses import dataclass
from typing import Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

# Defined apart: Hydra's plugin scan runs this module again, which would make new classes
# that `except JobDied` in code that imported the first ones no longer catches.
from ._errors import JobDied, JobStopped  # noqa: F401


@dataclass
class LocalParallelLauncherConf:
    _target_: str = "hydra_plugins.repro_launcher.local_parallel.LocalParallelLauncher"
    # Jobs running at once, each its own process; -1: one per CPU this process may use.
    n_jobs: int = -1


ConfigStore.instance().store(group="hydra/launcher", name="local_parallel", node=LocalParallelLauncherConf,
                             provider="repro_launcher")


class LocalParallelLauncher(Launcher):
    def __init__(self, n_jobs: int = -1) -> None:
        self.n_jobs = n_jobs
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from . import _core

        return _core.launch(self, job_overrides, initial_job_idx)

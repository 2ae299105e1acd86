"""What the local_parallel launcher reports for a job that did not end on its own
(local_parallel.py re-exports them)."""

from pathlib import Path

from hydra.errors import CompactHydraException


class JobDied(CompactHydraException):
    """A job's process ended without handing back its result (killed by a
    signal, out of memory, or exited from outside Hydra's job)."""

    def __init__(self, message: str, run_dir: Path | str, sweep_dir: Path | str, how: str):
        super().__init__(message)
        self.run_dir, self.sweep_dir, self.how = Path(run_dir), Path(sweep_dir), how

    def __reduce__(self):
        return type(self), (str(self), self.run_dir, self.sweep_dir, self.how)


class JobStopped(CompactHydraException):
    """A job stopped by Ctrl-C before it ran (the launcher started no further
    job), or one whose app let the KeyboardInterrupt escape."""

    def __init__(self, message: str, run_dir: Path | str, sweep_dir: Path | str):
        super().__init__(message)
        self.run_dir, self.sweep_dir = Path(run_dir), Path(sweep_dir)

    def __reduce__(self):
        return type(self), (str(self), self.run_dir, self.sweep_dir)

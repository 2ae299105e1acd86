"""One job of a local_parallel sweep, in a process of its own:

    python -m hydra_plugins.repro_launcher._worker JOB RESULT

JOB holds the launcher's import path, then (cloudpickled) the Hydra context,
the job's sweep config, the task function and Hydra's singleton state: what
Hydra's joblib launcher hands a worker. The job runs under Hydra's `run_job`,
as in a joblib worker, and RESULT receives (written whole, or not at all):

- ("returned", JobReturn): the job ran; its status says completed or failed;
- ("interrupted", began): a KeyboardInterrupt escaped before the job ended
  (Ctrl-C during start-up, or in an app that does not handle it); `began`
  says whether the task function had been called;
- ("error", exception): something outside the task function failed.

A process that dies leaves no RESULT; the launcher reports it (JobDied).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from typing import Any


class _Task:
    """The job's task function, noting that it began."""

    def __init__(self, function) -> None:
        self.function, self.began = function, False

    def __call__(self, cfg):
        self.began = True
        return self.function(cfg)


def main(job_path: str, result_path: str) -> None:
    outcome: tuple[str, Any] | None = None
    task = _Task(None)
    try:
        try:
            # The launcher blocked SIGINT across the start; a Ctrl-C that came meanwhile arrives now,
            # as a KeyboardInterrupt (until the job's app installs its own handler).
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            outcome = ("returned", run(job_path, task))
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the job is over: nothing may cut the result short
    except KeyboardInterrupt:
        if outcome is None:
            outcome = ("interrupted", task.began)
    except BaseException as exc:  # noqa: BLE001  (handed to the launcher, which reports it)
        if outcome is None:
            outcome = ("error", exc)
            traceback.print_exc()
    write_result(result_path, outcome)


def run(job_path: str, task: _Task):
    with open(job_path, "rb") as f:
        sys.path[:] = pickle.load(f)
        hydra_context, config, task.function, singleton_state = pickle.load(f)

    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(config)
    return run_job(hydra_context=hydra_context, task_function=task, config=config,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")


def write_result(path: str, outcome: tuple[str, Any]) -> None:
    try:
        data = _dumps(outcome)
    except Exception:  # noqa: BLE001  (an exception that does not pickle: its text instead)
        data = _dumps(_picklable(outcome))
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _dumps(obj: Any) -> bytes:
    try:
        import cloudpickle
    except ImportError:
        from joblib.externals import cloudpickle
    return cloudpickle.dumps(obj)


def _picklable(outcome: tuple[str, Any]) -> tuple[str, Any]:
    kind, value = outcome
    if kind == "returned" and isinstance(value._return_value, BaseException):
        value._return_value = _as_text(value._return_value)
        return kind, value
    if kind == "error":
        return kind, _as_text(value)
    return outcome


def _as_text(exc: BaseException) -> RuntimeError:
    return RuntimeError(f"{type(exc).__name__}: {exc} (the job's exception could not be handed back)")


if __name__ == "__main__":
    main(*sys.argv[1:])

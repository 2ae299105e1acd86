"""Ctrl-C and SIGTERM as a flag checked between steps, so a checkpoint is
never taken in the middle of an optimizer update.

The first signal prints `MESSAGE` at once (so the user knows it was heard) and
sets the flag; the loop finishes the step, saves a checkpoint and raises
`TrainingInterrupted`. A further signal while a checkpoint is being saved
(`saving()`) waits for the save to end; one while the step is still running
stops at once, without saving that step (an escape from a step that hangs).

In a sweep, each job's process also keeps a lasting record of the signal
(`guard_sweep_job`): a job that starts after it in the same process (the next
job of a joblib worker, or of Hydra's sequential launcher) stops before it starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MESSAGE = "interrupted: finishing the current step and saving"
SAVING_MESSAGE = "interrupted again: the checkpoint is being saved; stopping once it is complete"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after a clean checkpoint when SIGINT/SIGTERM stopped training.

    It pickles (a sweep's worker process hands it back to the launcher)."""

    def __init__(self, run, epoch: int, step: int):
        super().__init__(f"interrupted at pass {epoch + 1}, step {step}; checkpoint saved in {_path(run)}")
        self.run, self.epoch, self.step = run, epoch, step

    def __reduce__(self):
        return type(self), (self.run, self.epoch, self.step)


def _path(run) -> Path:
    return Path(getattr(run, "path", run))


def say(text: str) -> None:
    """One line to stderr, safe inside a signal handler: os.write takes no lock,
    where print could meet the buffered stderr the main thread is writing (tqdm)."""
    with contextlib.suppress(OSError):
        os.write(2, f"\n{text}\n".encode())


class _Process:
    """This process's lasting state (signal handlers are per process)."""

    saving = 0  # > 0 while a checkpoint is being written
    sweep_guard = False  # guard_sweep_job installed its handlers here
    job_running = False  # a sweep job is running in this process
    received = False  # a sweep job's process got SIGINT/SIGTERM: every later job stops before it starts


@contextlib.contextmanager
def saving() -> Iterator[None]:
    """Signals arriving inside wait for the block (a checkpoint save) to end."""
    _Process.saving += 1
    try:
        yield
    finally:
        _Process.saving -= 1


def sweep_interrupted() -> bool:
    """True once a sweep job's process got SIGINT/SIGTERM (see guard_sweep_job)."""
    return _Process.received


def _sweep_handler(signum, frame):  # noqa: ARG001
    if _Process.job_running and not _Process.received:
        say(MESSAGE)
    _Process.received = True


@contextlib.contextmanager
def guard_sweep_job() -> Iterator[None]:
    """Around one job of a sweep: from its start on, SIGINT/SIGTERM is recorded
    for the rest of the process's life instead of raising KeyboardInterrupt, so a
    signal reaching a joblib worker between two jobs neither kills the worker
    (loky would then kill its siblings) nor is lost (the next job stops at once).
    The handlers are left installed when the job ends, on purpose."""
    if threading.current_thread() is threading.main_thread() and not _Process.sweep_guard:
        for sig in SIGNALS:
            signal.signal(sig, _sweep_handler)
        _Process.sweep_guard = True
    _Process.job_running = True
    try:
        yield
    finally:
        _Process.job_running = False


class StopFlag:
    """Set by the first signal (which says so on stderr); see the module docstring
    for the second. Starts set if the process's sweep was interrupted already."""

    def __init__(self) -> None:
        self._set = False
        self._old: dict[int, Any] = {}

    @property
    def set(self) -> bool:
        # The process's record counts too: a sweep interrupted before this run began, or a signal
        # taken by `stop_every_run` for runs on other threads (they install no handlers of their own).
        return self._set or sweep_interrupted()

    @set.setter
    def set(self, value: bool) -> None:
        self._set = value

    def _handler(self, signum, frame):  # noqa: ARG002
        first = not self.set  # read before the record below, which `set` also reads
        if _Process.job_running:
            _Process.received = True
        if first:
            self.set = True
            say(MESSAGE)
        elif _Process.saving:
            say(SAVING_MESSAGE)
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def stop_every_run() -> Iterator[None]:
    """Around runs stepping on other threads of this process (lecun1989/fused/many.py): the first
    SIGINT/SIGTERM is recorded (the message said once) and every run's StopFlag reads it, so each
    finishes its step, saves and raises TrainingInterrupted; a further signal raises KeyboardInterrupt
    in the main thread. The handlers and the record are put back as they were at the end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = _Process.received

    def handler(signum, frame):  # noqa: ARG001
        if _Process.received and not _Process.saving:
            raise KeyboardInterrupt
        if not _Process.received:
            say(MESSAGE)
        _Process.received = True

    old = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        _Process.received = before

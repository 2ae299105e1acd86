"""Ctrl-C and SIGTERM as a flag checked between steps, so a checkpoint is
never taken in the middle of an optimizer update."""

from __future__ import annotations

import signal
import threading
from typing import Any


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after a clean checkpoint when SIGINT/SIGTERM stopped training."""

    def __init__(self, run, epoch: int, step: int):
        super().__init__(f"interrupted at pass {epoch + 1}, step {step}; checkpoint saved in {run.path}")
        self.run = run


class StopFlag:
    """Set by the first signal; a second signal interrupts at once."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):  # noqa: ARG002
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

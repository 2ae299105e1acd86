"""What a run shows while it trains: a whole-run progress bar on a terminal, and
for every pass lines that start with `pass k/N`, the last one with the pass's
time, the time elapsed and the estimated time left for the whole run.

The bar goes to stderr and only where stderr is a terminal (tqdm's own check);
in a log file, under a sweep or with `trainer.progress=false` there is no bar,
and the `pass k/N` lines alone show the run's progress, one summary per pass.
The estimate is this segment's seconds per training example (training and
evaluation together, so a resumed run estimates from its own speed) times the
examples still to train.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tqdm import tqdm


def clock(seconds: float) -> str:
    """0:07:05 for 425 s; 1d 2:03:04 for a day and more."""
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86_400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{h}:{m:02d}:{s:02d}"


class RunProgress:
    """The bar and the `pass k/N` lines of one `fit` call (one segment of a run,
    when it was resumed). ``done`` examples were trained before this segment."""

    def __init__(self, epochs: int, samples_per_epoch: int, done: int, unit: str, bar: bool,
                 log: Callable[[str], None], wall_before: float = 0.0):
        self.epochs, self.per_pass, self.log_fn = epochs, samples_per_epoch, log
        self.total = epochs * samples_per_epoch
        self.done_before = self.done = min(done, self.total)
        self.wall_before = wall_before
        self.started = self.pass_started = time.perf_counter()
        # disable=None: tqdm shows the bar only where its stream (stderr) is a terminal.
        self.bar = tqdm(total=self.total, initial=self.done, desc="run", unit=unit, unit_scale=True,
                        leave=False, dynamic_ncols=True, disable=None if bar else True)

    def start_pass(self) -> None:
        self.pass_started = time.perf_counter()

    def advance(self, examples: int) -> None:
        self.done = min(self.done + examples, self.total)
        self.bar.update(examples)

    def line(self, epoch: int, text: str) -> None:
        """Log ``pass k/N <text>`` for pass ``epoch`` (0-based), above the bar."""
        self.bar.clear()
        self.log_fn(f"pass {epoch + 1}/{self.epochs} {text}")
        self.bar.refresh()

    def eta_s(self) -> float | None:
        trained = self.done - self.done_before
        if trained <= 0:
            return None
        return (time.perf_counter() - self.started) / trained * (self.total - self.done)

    def end_pass(self, epoch: int, extra: str = "") -> None:
        """The pass's summary line: its time, the run's elapsed time and ETA."""
        now = time.perf_counter()
        eta = self.eta_s()
        elapsed = self.wall_before + now - self.started
        text = f"done in {now - self.pass_started:.1f} s, elapsed {clock(elapsed)}"
        text += f", ETA {clock(eta)}" if eta is not None and epoch + 1 < self.epochs else ""
        self.line(epoch, text + (f" ({extra})" if extra else ""))

    def close(self) -> None:
        self.bar.close()

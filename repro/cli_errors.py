"""Turn the errors a user can fix into one clear message and an exit code."""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from repro.config import ConfigError
from repro.data import DataError
from repro.train.checkpoint import ResumeError
from repro.train.interrupt import TrainingInterrupted

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _is_multirun() -> bool:
    try:
        return HydraConfig.get().mode.name == "MULTIRUN"
    except ValueError:
        return False


@contextlib.contextmanager
def report_user_errors(run_dir: Path, argv: list[str]):
    """In a single run, print the message and exit; in a sweep, re-raise so
    the launcher records the failed job and the others go on."""
    try:
        yield
    except TrainingInterrupted:
        args = [a for a in argv if not a.startswith(("resume=", "hydra.run.dir="))]
        hint = " ".join(shlex.quote(a) for a in [*args, "resume=true", f"hydra.run.dir={run_dir}"])
        print(f"\ninterrupted: checkpoint saved in {run_dir}\nresume with: {Path(sys.argv[0]).name} {hint}", file=sys.stderr)
        if _is_multirun():
            raise
        sys.exit(EXIT_INTERRUPTED)
    except (DataError, ConfigError, ResumeError) as exc:
        if _is_multirun():
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)

"""Turn the errors a user can fix into one clear message and an exit code,
and an interrupt into a saved checkpoint and the command that resumes it.

A single run prints `resume with: <app> ... resume=true hydra.run.dir=<run>`.
A sweep (`-m`) prints one command for the whole sweep instead,
`<app> -m <the same arguments> resume=true hydra.sweep.dir=<sweep>`, which reads
finished jobs back, continues interrupted ones and starts the rest:

- each job runs under `report_user_errors`, which turns its interrupt into
  `JobInterrupted`, an ordinary exception that pickles, so the launcher records
  the job as failed and waits for the others (a KeyboardInterrupt escaping a
  joblib job would make joblib kill every worker, mid-save);
- the command's process (`sweep_interrupts`, around Hydra in `repro.app`)
  ignores SIGINT while the sweep runs, so joblib is not aborted under the
  workers, and the loky workers it starts inherit the ignored SIGINT (an idle
  worker killed by Ctrl-C would break the pool); each job's process handles
  SIGINT/SIGTERM itself (repro.train.interrupt.guard_sweep_job);
- once Hydra has reported the first stopped job, it prints the sweep's command.

The experiments' launcher, `hydra/launcher=local_parallel`
(hydra_plugins/repro_launcher/), runs each job in a process of its own: a job
whose process dies (killed, out of memory) is reported failed (`JobDied`) and
the others run to the end; after a Ctrl-C it starts no further job
(`JobStopped`). Either way the command prints the sweep's resume command.
With `hydra/launcher=joblib`, a worker that dies breaks loky's pool, and loky
kills the workers beside it: their jobs lose what they trained since their last
checkpoint (`trainer.checkpoint_every_steps` bounds that); the command still
prints the sweep's resume command, which continues every unfinished job.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra_plugins.repro_launcher.local_parallel import JobDied, JobStopped

from repro.config import ConfigError
from repro.data import DataError
from repro.train.checkpoint import ResumeError
from repro.train.interrupt import TrainingInterrupted, guard_sweep_job, sweep_interrupted
from repro.train.record import CHECKPOINT, METRICS

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

_MULTIRUN_FLAGS = ("-m", "--multirun", "hydra.mode=MULTIRUN", "hydra.mode=multirun")
# Arguments the resume command sets itself.
_RESUME_SETS = ("resume=", "hydra.run.dir=", "hydra.sweep.dir=")


class JobInterrupted(CompactHydraException):
    """A sweep job stopped by SIGINT/SIGTERM (its checkpoint saved, or before it
    started): recorded by Hydra's launcher as a failed job, and raised again in
    the command's process once every job of the batch has stopped."""

    def __init__(self, message: str, run_dir: Path | str, sweep_dir: Path | str | None):
        super().__init__(message)
        self.run_dir = Path(run_dir)
        self.sweep_dir = Path(sweep_dir) if sweep_dir is not None else None

    def __reduce__(self):
        return type(self), (str(self), self.run_dir, self.sweep_dir)


def _is_multirun() -> bool:
    try:
        return HydraConfig.get().mode.name == "MULTIRUN"
    except ValueError:
        return False


def _sweep_dir() -> Path | None:
    try:
        return Path(str(HydraConfig.get().sweep.dir)).absolute()
    except Exception:  # noqa: BLE001  (no Hydra config, or an unresolvable sweep dir: no hint then)
        return None


def _app() -> str:
    return Path(sys.argv[0]).name


def _quoted(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def _own_args(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.lstrip("+").startswith(_RESUME_SETS)]


def resume_run_command(argv: list[str], run_dir: Path) -> str:
    return f"{_app()} {_quoted([*_own_args(argv), 'resume=true', f'hydra.run.dir={run_dir}'])}"


def resume_sweep_command(argv: list[str], sweep_dir: Path | None) -> str:
    """The same sweep with resume=true in the same folder. Where the folder is
    not known here (a dead worker, before any job reported), the command keeps
    the user's hydra.sweep.dir, else names the placeholder SWEEP_DIR."""
    given = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("hydra.sweep.dir=")]
    args = _own_args(argv)
    if not any(a in _MULTIRUN_FLAGS for a in args):
        args.insert(0, "-m")
    args.append("resume=true")
    folder = str(sweep_dir) if sweep_dir is not None else (given[-1] if given else None)
    command = f"{_app()} {_quoted([*args, f'hydra.sweep.dir={folder}'] if folder else args)}"
    if folder is None:
        command += " hydra.sweep.dir=SWEEP_DIR  (SWEEP_DIR: the 'sweep output dir' logged above)"
    return command


@contextlib.contextmanager
def report_user_errors(run_dir: Path, argv: list[str]):
    """In a single run, print the message and exit; in a sweep, re-raise so
    the launcher records the failed job and the others go on (an interrupt as
    `JobInterrupted`, so the command prints one resume command for the sweep)."""
    if not _is_multirun():
        with _single_run(run_dir, argv):
            yield
        return
    with guard_sweep_job():
        if sweep_interrupted():
            raise JobInterrupted(f"interrupted before it started: {run_dir}", run_dir, _sweep_dir())
        try:
            yield
        except TrainingInterrupted as exc:
            print(f"\ninterrupted: checkpoint saved in {run_dir}", file=sys.stderr)
            raise JobInterrupted(str(exc), run_dir, _sweep_dir()) from None
        except KeyboardInterrupt:
            raise JobInterrupted(_unsaved(run_dir), run_dir, _sweep_dir()) from None
        except (DataError, ConfigError, ResumeError) as exc:
            # One line for this job; the sweep goes on and prints its summary (a raised error
            # would end it: Hydra's sweeper re-raises a failed job's exception, with a traceback).
            _remove_if_empty(run_dir)
            print(f"error: sweep job {run_dir.name}: {exc}", file=sys.stderr, flush=True)
            raise JobRefused(str(exc)) from None
        except Exception:
            _remove_if_empty(run_dir)
            raise


class JobRefused(Exception):
    """A sweep job refused with a user error (its line printed); repro.app returns
    `RefusedJob` for it instead of failing the sweep."""


# The refusals this process made or received back from a job's process, by a token of
# their own (a copy is the same refusal): the command exits 2 after the sweep's summary
# when there are any (repro.app).
_refused: dict[str, str] = {}


class RefusedJob(float):
    """A refused sweep job's return value: NaN to a sweeper (as a diverged run), and
    noted in the process that makes it and in the launcher's that unpickles it (every
    launcher hands a job's return value back to the command's process pickled)."""

    def __new__(cls, message: str, token: str | None = None) -> RefusedJob:
        value = super().__new__(cls, float("nan"))
        value.message, value.token = message, token or uuid.uuid4().hex
        _refused[value.token] = message
        return value

    def __reduce__(self):
        return type(self), (self.message, self.token)


def refused_jobs() -> list[str]:
    return list(_refused.values())


@contextlib.contextmanager
def _single_run(run_dir: Path, argv: list[str]):
    try:
        yield
    except TrainingInterrupted:
        print(f"\ninterrupted: checkpoint saved in {run_dir}\nresume with: {resume_run_command(argv, run_dir)}",
              file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        # Before training began, or a second Ctrl-C while the step was still running.
        hint = f"\nresume with: {resume_run_command(argv, run_dir)}" if (run_dir / CHECKPOINT).exists() else ""
        print(f"\n{_unsaved(run_dir)}{hint}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except (DataError, ConfigError, ResumeError) as exc:
        _remove_if_empty(run_dir)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except Exception:
        _remove_if_empty(run_dir)  # whatever failed, a folder made for nothing is not left behind
        raise


def _remove_if_empty(run_dir: Path) -> None:
    """Hydra makes the run folder (and any folder above it) before the app runs; a
    refused run (its claim put the folder back as it found it) leaves none of them."""
    from repro.sweep_claim import remove_created

    remove_created(run_dir)


def _unsaved(run_dir: Path) -> str:
    if (run_dir / CHECKPOINT).exists():
        return f"interrupted: stopped without saving the last steps; the last checkpoint is in {run_dir}"
    return f"interrupted: stopped before the first checkpoint; nothing to resume in {run_dir}"


def is_multirun_argv(argv: list[str]) -> bool:
    return any(a in _MULTIRUN_FLAGS for a in argv)


@contextlib.contextmanager
def sweep_interrupts(argv: list[str]):
    """Around Hydra in the command's process. In a sweep: SIGINT ignored here
    while the sweep runs (the jobs handle it); when a job was interrupted, or a
    joblib worker died, one command that resumes the whole sweep."""
    if not is_multirun_argv(argv):
        yield
        return
    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    # SIGTERM to the command behaves as a Ctrl-C (local_parallel's launcher takes it over while it runs).
    old_term = signal.signal(signal.SIGTERM, _terminate_as_interrupt) if main_thread else None
    try:
        yield
    except (JobInterrupted, JobStopped) as exc:  # HYDRA_FULL_ERROR=1: Hydra re-raises it as it is
        _print_sweep_interrupted(argv, exc)
        sys.exit(EXIT_INTERRUPTED)
    except JobDied as exc:
        _print_job_died(argv, exc)
        raise
    except SystemExit as exit_:
        # Hydra printed the job's error and exits 1; what it reported is the context.
        cause = _context(exit_, (JobInterrupted, JobStopped, JobDied, BrokenProcessPool))
        if isinstance(cause, (JobInterrupted, JobStopped)):
            _print_sweep_interrupted(argv, cause)
            sys.exit(EXIT_INTERRUPTED)
        if isinstance(cause, JobDied):
            _print_job_died(argv, cause)
        if isinstance(cause, BrokenProcessPool):
            print(f"\na sweep worker died; joblib stopped the jobs running beside it (each keeps its last checkpoint)."
                  f"\nresume the sweep with: {resume_sweep_command(argv, _sweep_dir())}", file=sys.stderr)
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _terminate_as_interrupt(signum, frame) -> None:  # noqa: ARG001
    """SIGTERM to a sweep's own process: what a Ctrl-C does. The jobs of this process
    stop before they start (Hydra's sequential launcher; a running one has its own
    handler), and each child process (a joblib worker) gets SIGINT, which its job
    handles (checkpoint, stop)."""
    from repro.train.interrupt import _sweep_handler

    _sweep_handler(signum, frame)
    for pid in _children(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _context(exc: BaseException, kinds) -> BaseException | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _print_job_died(argv: list[str], exc: JobDied) -> None:
    kept = "its last checkpoint is kept" if (exc.run_dir / CHECKPOINT).is_file() else "it had no checkpoint yet"
    print(f"\na sweep job's process was {exc.how}: {exc.run_dir}; {kept}, and the other jobs ran on"
          f"{_summary(exc.sweep_dir)}\nresume the sweep with: {resume_sweep_command(argv, exc.sweep_dir)}",
          file=sys.stderr)


def _print_sweep_interrupted(argv: list[str], exc: JobInterrupted | JobStopped) -> None:
    sweep = exc.sweep_dir or _sweep_dir()
    where = f" in {sweep}" if sweep is not None else ""
    print(f"\ninterrupted: every job of the sweep stopped{where}{_summary(sweep)}"
          f"\nresume the sweep with: {resume_sweep_command(argv, sweep)}", file=sys.stderr)


def _summary(sweep: Path | None) -> str:
    """' (2 with a checkpoint, 1 finished)': what the sweep folder holds."""
    if sweep is None or not sweep.is_dir():
        return ""
    jobs = [d for d in sweep.iterdir() if d.is_dir()]
    finished = sum((d / METRICS).is_file() for d in jobs)
    saved = sum((d / CHECKPOINT).is_file() and not (d / METRICS).is_file() for d in jobs)
    return f" ({saved} with a checkpoint, {finished} finished)"

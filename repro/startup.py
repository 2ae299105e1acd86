"""Ctrl-C while a command starts: importing torch and composing the config take
seconds, before a run's own handling (repro/cli_errors.py) is in place. An
interrupt then is one line and exit 130, not a KeyboardInterrupt traceback.
Standard library only, so that it is in place before the heavy imports:

    with quiet_start(__file__, "lecun1989"):   # around the command module's imports
        import torch
        ...
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what the shell shows for `yes | head -1`
MESSAGE = "interrupted while starting; nothing was run"


def interrupted_at_start() -> None:
    print(f"\n{MESSAGE}", file=sys.stderr, flush=True)
    sys.exit(EXIT_INTERRUPTED)


def is_program(entry_file: str, app: str) -> bool:
    """Whether the command module ``entry_file`` is this process's program: its console
    script (argv[0] named ``app``) or `python -m` of the module (argv[0] its path)."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == app or (argv0.is_file() and argv0.resolve() == Path(entry_file).resolve())


@contextlib.contextmanager
def quiet_start(entry_file: str, app: str) -> Iterator[None]:
    """Around a command module's imports. Only where that module is the program:
    imported elsewhere (a sweep job's process unpickling the task, a test), an
    interrupt stays the KeyboardInterrupt its importer handles."""
    if not is_program(entry_file, app):
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        interrupted_at_start()


def quiet_broken_pipe(main: Callable[..., object]) -> Callable[..., object]:
    """Around a command's `main`: its reader went away (`lecun1989 --help | head -1`),
    so it stops quietly with 141 as `cat` would, not with a BrokenPipeError
    traceback. Standard output is flushed inside, and pointed at /dev/null after
    the error, so the interpreter's own flush at exit cannot raise it again."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            try:
                return main(*args, **kwargs)
            finally:  # an exit too (argparse's --help): what is left in the buffer is written here
                sys.stdout.flush()
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)

    return wrapper

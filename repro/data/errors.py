"""The one exception the data layer raises for anything a user can fix."""

from __future__ import annotations

import re

# torch re-raises a DataLoader worker's exception as its type built from one text: "Caught
# DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last): ...",
# ending with the original "<module>.DataError: <message>".
_WORKER_TRACEBACK = re.compile(r"\ACaught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback .*"
                               r"^(?:[\w.]*\.)?\1: (.*)\Z", re.DOTALL | re.MULTILINE)


class DataError(Exception):
    """Missing, truncated or malformed data: the message names the file and what to do.
    Raised in a DataLoader worker, it keeps its own message, not the worker's traceback."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            found = _WORKER_TRACEBACK.match(args[0])
            if found is not None:
                args = (found.group(2).rstrip("\n"),)
        super().__init__(*args)

"""What is at a data path, and OS errors as DataErrors that say so.

"Not found" is said only of a path with nothing there: a directory or a FIFO
where a data file should be, or a folder this user may not read, each get
their own message (and are never overwritten by a download).
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import DataError

F = TypeVar("F", bound=Callable)

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _first_blocked(path: Path) -> Path | None:
    """The outermost existing folder on the way to ``path`` this user cannot
    list or enter, or ``path`` itself if it cannot be read; None if none is
    (as for root, who may read anything: then the OS error names the path)."""
    path = Path(os.path.abspath(path))
    for p in (*reversed(path.parents), path):
        try:
            mode = os.stat(p).st_mode
        except OSError:
            return p if os.path.lexists(p) else None
        need = os.R_OK | os.X_OK if stat.S_ISDIR(mode) else os.R_OK
        if not os.access(p, need):
            return p
    return None


def permission_error(path: Path) -> DataError:
    blocked = _first_blocked(Path(path)) or Path(path)
    what = "folder" if os.path.isdir(blocked) else "file"  # os.path: False, not an error, where it cannot look
    return DataError(
        f"cannot read {path}: permission denied on the {what} {blocked}; make it readable by this user "
        f"(e.g. chmod -R u+rX {blocked}), or point data.root=... or $REPRO_DATA_ROOT at a copy you can read."
    )


def as_data_error(exc: OSError, path: Path | str | None = None) -> DataError:
    """The DataError for an OS error met while reading data under ``path``."""
    if path is None and not exc.filename:
        return DataError(f"cannot read the data: {exc}")
    where = Path(path if path is not None else exc.filename)
    if isinstance(exc, PermissionError):
        return permission_error(where)
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{where} is a directory, not a data file; move it out of the way (or point data.root elsewhere).")
    return DataError(f"cannot read {where}: {exc.strerror or exc}")


def data_file_present(path: Path, what: str = "data file") -> bool:
    """True if a regular file is at ``path``, False if nothing is there; a
    DataError for anything else (a directory, a FIFO, a socket or device, a
    file where a parent folder should be, a folder this user may not read)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        parent = next(p for p in Path(path).parents if os.path.lexists(p))
        raise DataError(f"{path} cannot exist: {parent} is a file, not a folder; move it out of the way, "
                        "or point data.root=... at the folder that holds the data.") from None
    except OSError as exc:
        raise as_data_error(exc, path) from exc
    if stat.S_ISREG(mode):
        return True
    if stat.S_ISDIR(mode):
        raise DataError(f"{path} is a directory where the {what} should be; remove or rename it and put the "
                        "file there, or point data.root=... at the folder that holds the data.")
    kind = next((f" but {name}" for test, name in _KINDS if test(mode)), "")
    raise DataError(f"{path} is not a regular file{kind}, where the {what} should be; remove it and put the "
                    "file there, or point data.root=... at the folder that holds the data.")


def os_errors_as_data_errors(loader: F) -> F:
    """Decorate a data loader: an OSError escaping it (a folder this user may
    not read...) becomes a DataError naming the path, not a traceback."""

    @functools.wraps(loader)
    def wrapper(*args, **kwargs):
        try:
            return loader(*args, **kwargs)
        except OSError as exc:
            raise as_data_error(exc) from exc

    return wrapper  # type: ignore[return-value]

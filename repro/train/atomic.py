"""Atomic file writes: a reader sees the old file or the new one, never half.

Every run-record file goes through here, so an interrupted run (Ctrl-C, OOM
kill, power loss) can never leave a record that looks finished. The temporary
file is ``.<name>.<8 random characters>.tmp`` beside the target; a process
killed mid-write (SIGKILL, power loss) leaves it behind, and the next run that
claims the folder removes it (``remove_stale_temps``, called by
repro.train.run.claim_run under the folder's lock). Files are created with the
mode the umask allows (like ``open(path, "w")``), not mkstemp's 0600, so
colleagues on a shared file system can read the records.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"  # tempfile.mkstemp's, so older leftovers match too
_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusive ``.<name>.<random>.tmp`` beside ``path``, mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{''.join(secrets.choice(_ALPHABET) for _ in range(8))}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # KeyboardInterrupt included: never leave temp files behind.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of write_atomic's temporary files."""
    return bool(_TEMP.match(name))


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete the temporary files write_atomic left in ``directory`` (not its
    subfolders) when its process was killed mid-write; return what was removed.
    Call it only while no other process can be writing there (under the run lock)."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(Path(entry.path))
    return removed


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_torch_atomic(path: Path, obj: Any) -> None:
    import torch

    write_atomic(path, lambda f: torch.save(obj, f))

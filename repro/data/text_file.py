"""Read a gzip or plain text file whole, turning truncation into a DataError."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from .access import as_data_error
from .errors import DataError


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if it is gzip (detected by magic, not by name)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise as_data_error(exc, path) from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip ({exc}); download the file again") from exc

"""The IDX format of the MNIST files: big-endian header, then unsigned bytes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .errors import DataError
from .text_file import read_bytes

# magic -> number of dimensions (type code 0x08: unsigned byte)
IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}


def parse_idx(raw: bytes, source: str) -> np.ndarray:
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes, too short for an IDX header")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic not in IDX_MAGIC:
        raise DataError(f"{source}: magic {magic:#010x} is not an IDX file of unsigned bytes (0x801 or 0x803)")
    ndim = IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(dims))
    body = len(raw) - header
    if body != size:
        kind = "truncated" if body < size else "has trailing bytes"
        raise DataError(f"{source}: {kind}: {body} data bytes, the header {list(dims)} needs {size}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain) as a uint8 array of the header's shape."""
    return parse_idx(read_bytes(path), str(path))

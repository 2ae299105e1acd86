"""The USPS zip-code digits of LeCun et al. 1989, in the ESL text layout.

One digit per line: the label (0..9, written "6" or "6.0000"), then 256 pixel
values row by row in [-1, 1] (-1 white background, 1 black ink). The canonical
files are the Elements of Statistical Learning's zip.train.gz / zip.test.gz.
Copies differ in bytes (the team's shared copies were rewritten from the same
values), so a file is verified by its *content*: digit counts and a sha256 over
the labels and the pixel values rounded to the 4 decimals the files carry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .access import os_errors_as_data_errors
from .digits import DigitSplits
from .download import RemoteFile, ensure_file
from .errors import DataError
from .text_file import read_bytes

N_COLUMNS = 257
_BASES = ("https://hastie.su.domains/ElemStatLearn/datasets", "https://web.stanford.edu/~hastie/ElemStatLearn/datasets")

# (digits, content sha256) of each canonical file; see `content_sha256`.
CANONICAL = {
    "train": ("zip.train.gz", 7291, "f76bf9a7e3719d4c031d4511d41b6066a839b7b8edf770c4c26243206aa8ee6e"),
    "test": ("zip.test.gz", 2007, "f32f817a5623691d26a389781958e9c15544fdd4e0e26cc92571399149031605"),
}


def content_sha256(labels: np.ndarray, pixels: np.ndarray) -> str:
    """sha256 over int8 labels then int16 round(pixel * 1e4): byte-layout independent."""
    digest = hashlib.sha256()
    digest.update(labels.astype(np.int8).tobytes())
    digest.update(np.rint(pixels * 1e4).astype("<i2").tobytes())
    return digest.hexdigest()


def parse_usps_text(text: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels int64 [N] and pixels float32 [N, 256]; DataError naming file and line on bad input."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines are harmless
    if not lines:
        raise DataError(f"{source}: no digits in the file")
    rows = np.empty((len(lines), N_COLUMNS), dtype=np.float64)
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != N_COLUMNS:
            raise DataError(
                f"{source}, line {number}: {len(parts)} columns, expected {N_COLUMNS} "
                "(label then 16x16 pixel values); the file is malformed or truncated"
            )
        try:
            rows[number - 1] = np.asarray(parts, dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"{source}, line {number}: not a number ({exc})") from exc
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        raise DataError(f"{source}, line {int(np.argmax(bad)) + 1}: NaN or infinite value")
    labels = rows[:, 0]
    bad = (labels != np.round(labels)) | (labels < 0) | (labels > 9)
    if bad.any():
        line = int(np.argmax(bad)) + 1
        raise DataError(f"{source}, line {line}: label {labels[line - 1]:g} is not a digit 0..9")
    pixels = rows[:, 1:]
    bad = (np.abs(pixels) > 1.0).any(axis=1)
    if bad.any():
        line = int(np.argmax(bad)) + 1
        raise DataError(f"{source}, line {line}: pixel value outside [-1, 1]")
    return labels.astype(np.int64), pixels.astype(np.float32)


def read_usps_file(path: Path, expected: tuple[int, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse one file; with `expected` = (count, content sha256) check it is the canonical one."""
    raw = read_bytes(path)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from exc
    labels, pixels = parse_usps_text(text, str(path))
    if expected is not None:
        count, sha = expected
        if len(labels) != count:
            raise DataError(
                f"{path}: {len(labels)} digits, the canonical file has {count}; the file is "
                "truncated or not the USPS set. Download it again, or set data.verify=false to use it anyway."
            )
        got = content_sha256(labels, pixels)
        if got != sha:
            raise DataError(
                f"{path}: content sha256 {got} differs from the canonical {sha}; the values were "
                "changed. Download the file again, or set data.verify=false to use it anyway."
            )
    return labels, pixels


def usps_remote(split: str) -> RemoteFile:
    filename, count, sha = CANONICAL[split]

    def check(path: Path) -> None:
        read_usps_file(path, (count, sha))

    return RemoteFile(f"usps/{filename}", tuple(f"{base}/{filename}" for base in _BASES), check=check)


@os_errors_as_data_errors
def load_usps(root: Path, download: bool = True, verify: bool = True) -> DigitSplits:
    """USPS train (7,291) and test (2,007) digits from `<root>/usps/`."""
    tensors = {}
    sources = []
    for split in ("train", "test"):
        _, count, sha = CANONICAL[split]
        path = ensure_file(root, usps_remote(split), download)
        labels, pixels = read_usps_file(path, (count, sha) if verify else None)
        tensors[split] = (torch.from_numpy(pixels).reshape(-1, 1, 16, 16), torch.from_numpy(labels))
        sources.append(str(path))
    return DigitSplits("usps", *tensors["train"], *tensors["test"], sources=tuple(sources))

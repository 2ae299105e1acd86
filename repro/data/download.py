"""Fetch a missing data file for online users, verified before it is kept.

A download goes to a temporary file beside its destination and is moved into
place (`os.replace`) only after its checksum or content check passed, so an
interrupted or corrupt download never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .access import data_file_present
from .errors import DataError
from .root import DATA_ROOT_ENV, describe_root

TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    """One data file: where it lives under the root and how it is checked."""

    relpath: str
    urls: tuple[str, ...]
    md5: str | None = None  # byte checksum, where the canonical bytes are known
    # Content check (raises DataError), for files whose bytes vary between copies.
    check: Callable[[Path], None] | None = field(default=None, compare=False)


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, spec: RemoteFile) -> None:
    """Raise DataError unless `path` passes the spec's checksum and content check."""
    if spec.md5 is not None:
        got = file_md5(path)
        if got != spec.md5:
            raise DataError(
                f"{path}: md5 {got} does not match the canonical {spec.md5}; the file is "
                "corrupt or truncated. Delete it and download it again (data.download=true), "
                "or set data.verify=false to use it anyway."
            )
    if spec.check is not None:
        spec.check(path)


def missing_message(root: Path, spec: RemoteFile, reason: str, tried_download: bool = False) -> str:
    """``tried_download``: data.download was on and failed, so the advice is to retry
    once the URLs can be reached, not to turn it on."""
    urls = "\n".join(f"    {url}" for url in spec.urls)
    retry = ("retry once the URLs above can be reached (behind a proxy: set $https_proxy)" if tried_download
             else "run with data.download=true while online")
    return (
        f"missing data file {spec.relpath}: {reason}\n"
        f"  looked for: {root / spec.relpath}\n"
        f"  data root:  {describe_root(root)}\n"
        f"  get it from:\n{urls}\n"
        f"  fix: put the file there, point data.root=... or ${DATA_ROOT_ENV} at a folder that has "
        f"{spec.relpath}, or {retry}."
    )


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those it created, outermost first."""
    made = [p for p in (*reversed(folder.parents), folder) if not os.path.lexists(p)]
    folder.mkdir(parents=True, exist_ok=True)
    return made


def _remove_made(made: list[Path]) -> None:
    """A failed download leaves no folder it created (a missing data root stays missing)."""
    for folder in reversed(made):
        try:
            folder.rmdir()  # only ever removes an empty folder
        except OSError:
            return


def _fetch(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def ensure_file(root: Path, spec: RemoteFile, download: bool) -> Path:
    """The path of `spec` under `root`, downloading and verifying it first if it is missing."""
    path = root / spec.relpath
    if data_file_present(path):  # DataError for a directory, FIFO or unreadable folder there
        return path
    if not download:
        raise DataError(missing_message(root, spec, "not found and data.download=false"))
    try:
        # Made for the download's temporary file (beside its destination, for os.replace); removed if it fails.
        made = _make_parents(path.parent)
    except OSError as exc:
        raise DataError(missing_message(root, spec, f"cannot create {path.parent}: {exc}", True)) from exc
    failures = []
    for url in spec.urls:
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        except OSError as exc:  # a read-only data root: nothing can be downloaded into it
            _remove_made(made)
            raise DataError(missing_message(
                root, spec, f"not found, and {path.parent} is not writable ({exc.strerror or exc}), so it cannot "
                            "be downloaded there")) from None
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _fetch(url, tmp)
            verify_file(tmp, spec)
            os.replace(tmp, path)
            return path
        except (OSError, DataError, ValueError) as exc:
            failures.append(f"{url}: {exc}".splitlines()[0])
        finally:
            tmp.unlink(missing_ok=True)
    _remove_made(made)
    tried = "; ".join(failures)
    raise DataError(missing_message(root, spec, f"not found, and every download failed ({tried})", True))

"""CIFAR-10, python pickle version, as uint8 HWC arrays.

Files under `<data root>/cifar10/cifar-10-batches-py/`: data_batch_1..5 (the
50,000 training images), test_batch (10,000) and batches.meta (class names).
Each batch is a pickled dict: b"data" uint8 [N, 3072] (each row the red, then
green, then blue 32x32 plane, row by row) and b"labels" (N ints 0..9).

Online users get the canonical tarball (cs.toronto.edu), verified by md5, and
only the known members are extracted, each to a temporary file then moved into
place, so neither a hostile archive nor an interrupted run can leave bad files.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .access import data_file_present, os_errors_as_data_errors
from .download import RemoteFile, ensure_file, file_md5, missing_message
from .errors import DataError

CIFAR_DIR = "cifar10"
BATCHES_DIR = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TARBALL = RemoteFile(f"{CIFAR_DIR}/cifar-10-python.tar.gz", (URL,), md5="c58f30108f718f92721af3b95e74349a")
# md5 of the canonical files (as torchvision checks them).
TRAIN_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
}
TEST_FILES = {"test_batch": "40351d587109b95175f43aff81a1287e"}
META_FILE = {"batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}
ALL_FILES = {**TRAIN_FILES, **TEST_FILES, **META_FILE}


@dataclass(frozen=True, eq=False)
class ImageArrays:
    """A small image data set held in memory: uint8 HWC images and int64 labels."""

    x_train: np.ndarray  # uint8 [N, 32, 32, 3]
    y_train: np.ndarray  # int64 [N]
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    name: str

    def summary(self) -> str:
        return f"{self.name}: {len(self.x_train)} train / {len(self.x_test)} test images"


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Loads dicts, lists, bytes and numpy arrays only: an unverified file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (a CIFAR batch holds only arrays)")
        return super().find_class(module, name)


def read_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _ArraysOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as exc:
        raise DataError(f"{path}: not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc}); the file is "
                        "corrupt or truncated. Delete it and download it again (data.download=true).") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 32, 32, 3] (HWC) and labels int64 [N] of one batch file."""
    batch = read_pickle(path)
    if b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: expected keys b'data' and b'labels', got {sorted(batch)}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: b'data' should be uint8 [N, 3072], got {data.dtype} {list(data.shape)}")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but {labels.size} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        bad = int(np.argmax((labels < 0) | (labels > 9)))
        raise DataError(f"{path}: label {labels[bad]} at index {bad} is not a class 0..9")
    # Rows are CHW planes; HWC is what PIL, the packed format and the datasets use.
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def read_label_names(path: Path) -> tuple[str, ...]:
    meta = read_pickle(path)
    names = meta.get(b"label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{path}: expected b'label_names' with 10 class names, got {names!r:.200}")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def _extract_members(tar_path: Path, dest: Path, names: list[str]) -> None:
    """Copy only the named regular files of the tarball into `dest` (no path from the archive is trusted)."""
    wanted = {f"{BATCHES_DIR}/{name}": name for name in names}
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None or not member.isfile():
                    continue
                source = tar.extractfile(member)
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
                try:
                    with os.fdopen(fd, "wb") as out:
                        while block := source.read(1 << 20):
                            out.write(block)
                    os.replace(tmp, dest / name)
                finally:
                    Path(tmp).unlink(missing_ok=True)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{tar_path}: cannot extract ({exc}); delete it and download it again.") from exc
    still = [n for n in names if not (dest / n).is_file()]
    if still:
        raise DataError(f"{tar_path} does not contain {BATCHES_DIR}/{still[0]}; it is not the CIFAR-10 python archive.")


def ensure_cifar10(root: Path, download: bool) -> Path:
    """The batches folder with all CIFAR-10 files, downloading and extracting them if missing."""
    batches = Path(root) / CIFAR_DIR / BATCHES_DIR
    missing = [name for name in ALL_FILES if not data_file_present(batches / name, "CIFAR-10 file")]
    if not missing:
        return batches
    wanted = RemoteFile(f"{CIFAR_DIR}/{BATCHES_DIR}/{missing[0]}", (URL,))
    if not download:
        raise DataError(missing_message(Path(root), wanted, f"{len(missing)} of the CIFAR-10 files are missing "
                                        f"({', '.join(missing)}) and data.download=false (the URL is the "
                                        "tarball; extract it into the cifar10/ folder)"))
    tar_path = ensure_file(Path(root), TARBALL, download=True)
    batches.mkdir(parents=True, exist_ok=True)
    _extract_members(tar_path, batches, missing)
    return batches


@os_errors_as_data_errors
def load_cifar10(root: Path, download: bool = True, verify: bool = True) -> ImageArrays:
    """CIFAR-10 from `<root>/cifar10/cifar-10-batches-py/`: 50,000 train and 10,000 test images."""
    batches = ensure_cifar10(Path(root), download)
    if verify:
        for name, md5 in ALL_FILES.items():
            got = file_md5(batches / name)
            if got != md5:
                raise DataError(
                    f"{batches / name}: md5 {got} does not match the canonical {md5}; the file is corrupt or "
                    "not the canonical CIFAR-10. Delete the folder and download again (data.download=true), "
                    "or set data.verify=false to use it anyway."
                )
    train = [read_batch(batches / name) for name in TRAIN_FILES]
    x_test, y_test = read_batch(batches / "test_batch")
    return ImageArrays(
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
        class_names=read_label_names(batches / "batches.meta"),
        name="cifar10",
    )

"""MNIST as 16x16 digits, following Karpathy's lecun1989-repro protocol.

Karpathy (2022, prepro.py) draws random 7,291 / 2,007 subsets of MNIST train /
test, maps pixels to [-1, 1] (x / 127.5 - 1) and shrinks 28x28 to 16x16 with
`F.interpolate(mode="bilinear")` (align_corners=False, no antialias). His
script seeds numpy with 1337 but iterates the splits from a Python *set*, so
which subset each split got depended on string hashing; we draw train first,
then test, from one `numpy.random.RandomState(seed)`. Deterministic, but not
his exact digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .access import os_errors_as_data_errors
from .digits import DigitSplits
from .download import RemoteFile, ensure_file, verify_file
from .errors import DataError
from .idx import read_idx

_BASES = ("https://ossci-datasets.s3.amazonaws.com/mnist", "http://yann.lecun.com/exdb/mnist")
# (images, labels) file names and md5 of the canonical gzip files (as torchvision checks them).
MNIST_FILES = {
    "train": (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
              ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")),
    "test": (("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
             ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
}


def mnist_remote(filename: str, md5: str) -> RemoteFile:
    return RemoteFile(f"mnist/{filename}", tuple(f"{base}/{filename}" for base in _BASES), md5=md5)


def read_mnist_split(root: Path, split: str, download: bool, verify: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    arrays, sources = [], []
    for filename, md5 in MNIST_FILES[split]:
        spec = mnist_remote(filename, md5)
        path = ensure_file(root, spec, download)
        if verify:
            verify_file(path, spec)
        arrays.append(read_idx(path))
        sources.append(str(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{sources[0]}: expected images [N, 28, 28] and labels [N], got {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{sources[0]} has {len(images)} images but {sources[1]} has {len(labels)} labels")
    if labels.max(initial=0) > 9:
        line = int(np.argmax(labels > 9))
        raise DataError(f"{sources[1]}: label {labels[line]} at index {line} is not a digit 0..9")
    return images, labels, sources


def to_16x16(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W] -> float32 [N, 1, 16, 16] in [-1, 1], as Karpathy's prepro.py."""
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) / 127.5 - 1.0
    return F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False).contiguous()


@os_errors_as_data_errors
def load_mnist16(
    root: Path,
    download: bool = True,
    verify: bool = True,
    n_train: int = 7291,
    n_test: int = 2007,
    seed: int = 1337,
) -> DigitSplits:
    """Random `n_train` / `n_test` subsets of MNIST, resized to 16x16 (Karpathy's protocol)."""
    rng = np.random.RandomState(seed)
    tensors, sources = {}, []
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels, files = read_mnist_split(root, split, download, verify)
        if not 1 <= n <= len(images):
            raise DataError(f"mnist16: asked for {n} {split} digits, {files[0]} has {len(images)}")
        pick = rng.permutation(len(images))[:n]
        tensors[split] = (to_16x16(images[pick]), torch.from_numpy(labels[pick].astype(np.int64)))
        sources.extend(files)
    return DigitSplits("mnist16", *tensors["train"], *tensors["test"], sources=tuple(sources))

"""MNIST as 16x16 digits, following Karpathy's lecun1989-repro protocol.

Karpathy (2022, prepro.py) draws random 7,291 / 2,007 subsets of MNIST train /
test, maps pixels to [-1, 1] (x / 127.5 - 1) and shrinks 28x28 to 16x16 with
`F.interpolate(mode="bilinear")` (align_corners=False, no antialias). His
script seeds numpy with 1337 and then iterates the splits from a Python *set*
(`for split in {'train', 'test'}`), so which split drew first depended on the
process's string hashing. His published digits are the **test-first** draw:
all 14 mistakes his vis.ipynb shows per split are, pixel for pixel, digits of
that draw at increasing positions (lecun1989/README.md, faithfulness table;
tests/repro/data/test_mnist.py pins them). So `order="test_first"` is the
default: test = permutation(10,000)[:n_test], then train = permutation(60,000)
[:n_train], both from one `numpy.random.RandomState(seed)`; "train_first" is
the draw this project used before (issue 43), kept for its older records.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .access import os_errors_as_data_errors
from .digits import DigitSplits
from .download import RemoteFile, ensure_file, verify_file
from .errors import DataError
from .idx import read_idx

# Which split draws its permutation first from the one RandomState (see the module docstring).
DRAW_ORDERS = {"test_first": ("test", "train"), "train_first": ("train", "test")}

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
    order: str = "test_first",
    unused_val: int = 0,
) -> DigitSplits:
    """Random `n_train` / `n_test` subsets of MNIST, resized to 16x16 (Karpathy's protocol).

    ``order``: which split's permutation is drawn first (``DRAW_ORDERS``; his digits: test_first).
    ``unused_val`` > 0: that many MNIST training digits *not* drawn for training (the next ones of
    the same permutation) become the validation split; Karpathy's 50,000-digit rows leave 10,000
    unused, so a choice can be made on them without touching his training or test digits."""
    if order not in DRAW_ORDERS:
        raise DataError(f"mnist16: unknown draw order {order!r}; choose one of {', '.join(DRAW_ORDERS)}")
    rng = np.random.RandomState(seed)
    sizes = {"train": n_train, "test": n_test}
    tensors, files_of, val = {}, {}, None
    for split in DRAW_ORDERS[order]:
        images, labels, files = read_mnist_split(root, split, download, verify)
        n = sizes[split]
        if not 1 <= n <= len(images):
            raise DataError(f"mnist16: asked for {n} {split} digits, {files[0]} has {len(images)}")
        perm = rng.permutation(len(images))
        pick = perm[:n]
        tensors[split] = (to_16x16(images[pick]), torch.from_numpy(labels[pick].astype(np.int64)))
        files_of[split] = files
        if split == "train" and unused_val:
            if not 0 < unused_val <= len(images) - n:
                raise DataError(f"mnist16: asked for {unused_val} unused training digits as validation, "
                                f"{files[0]} has {len(images) - n} left after the {n} drawn for training")
            rest = perm[n:n + unused_val]
            val = (to_16x16(images[rest]), torch.from_numpy(labels[rest].astype(np.int64)))
    sources = tuple(files_of["train"] + files_of["test"])
    digits = DigitSplits("mnist16", *tensors["train"], *tensors["test"], sources=sources)
    return replace(digits, x_val=val[0], y_val=val[1]) if val is not None else digits

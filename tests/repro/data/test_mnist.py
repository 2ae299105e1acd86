"""The MNIST IDX reader and Karpathy's 16x16 protocol."""

import gzip

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from repro.data import DataError, load_mnist16
from repro.data.idx import parse_idx, read_idx
from repro.data.mnist import to_16x16


def test_idx_roundtrip(tmp_path, digit_files):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(digit_files.idx_bytes(a)))
    np.testing.assert_array_equal(read_idx(path), a)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda b: b[:-5], r"truncated: 1563 data bytes, the header \[2, 28, 28\] needs 1568"),
        (lambda b: b + b"\0", "has trailing bytes"),
        (lambda b: b"\0\0\x08\x02" + b[4:], "is not an IDX file"),
        (lambda b: b[:10], "truncated IDX header"),
        (lambda b: b[:2], "too short"),
    ],
)
def test_bad_idx_files(digit_files, mutate, message):
    raw = digit_files.idx_bytes(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=message):
        parse_idx(mutate(raw), "f.idx")


def test_resize_is_bilinear_to_16x16_in_pm1():
    images = np.zeros((2, 28, 28), np.uint8)
    images[1] = 255
    x = to_16x16(images)
    assert x.shape == (2, 1, 16, 16) and x.dtype == torch.float32
    assert torch.equal(x[0], torch.full((1, 16, 16), -1.0)) and torch.equal(x[1], torch.full((1, 16, 16), 1.0))
    rng = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    ref = F.interpolate(torch.tensor(rng, dtype=torch.float32)[:, None] / 127.5 - 1, (16, 16), mode="bilinear")
    assert torch.equal(to_16x16(rng), ref)


def test_load_mnist16_subsets_are_seeded(mnist_root):
    a = load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, seed=5)
    b = load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, seed=5)
    c = load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, seed=6)
    assert a.x_train.shape == (30, 1, 16, 16) and a.x_test.shape == (12, 1, 16, 16)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert a.summary() == "mnist16: 30 train / 12 test digits"
    # Train is the first 30 of a seeded permutation of the 50 train images (Karpathy: np permutation).
    images = read_idx(mnist_root / "mnist" / "train-images-idx3-ubyte.gz")
    pick = np.random.RandomState(5).permutation(50)[:30]
    assert torch.equal(a.x_train, to_16x16(images[pick]))


def test_mnist_checks(mnist_root):
    with pytest.raises(DataError, match="md5 .* does not match the canonical f68b3c2d"):
        load_mnist16(mnist_root, download=False, verify=True)
    with pytest.raises(DataError, match="asked for 51 train digits"):
        load_mnist16(mnist_root, download=False, verify=False, n_train=51, n_test=5)
    (mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing data file mnist/t10k-labels-idx1-ubyte.gz"):
        load_mnist16(mnist_root, download=False, verify=False, n_train=5, n_test=5)


def test_mismatched_images_and_labels(mnist_root, digit_files):
    path = mnist_root / "mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(digit_files.idx_bytes(np.zeros(49, np.uint8))))
    with pytest.raises(DataError, match="has 50 images but .* has 49 labels"):
        load_mnist16(mnist_root, download=False, verify=False, n_train=5, n_test=5)
    path.write_bytes(gzip.compress(digit_files.idx_bytes(np.full(50, 12, np.uint8))))
    with pytest.raises(DataError, match="label 12 at index 0"):
        load_mnist16(mnist_root, download=False, verify=False, n_train=5, n_test=5)

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
    # Karpathy's published draw (issue 43): the test permutation first, then the train one, from one
    # RandomState; train is the first 30 of the second permutation (of the 50 train images).
    images = read_idx(mnist_root / "mnist" / "train-images-idx3-ubyte.gz")
    test_images = read_idx(mnist_root / "mnist" / "t10k-images-idx3-ubyte.gz")
    rng = np.random.RandomState(5)
    test_pick = rng.permutation(20)[:12]
    pick = rng.permutation(50)[:30]
    assert torch.equal(a.x_test, to_16x16(test_images[test_pick])) and torch.equal(a.x_train, to_16x16(images[pick]))
    # The other order, by name: train's permutation first.
    old = load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, seed=5, order="train_first")
    rng = np.random.RandomState(5)
    assert torch.equal(old.x_train, to_16x16(images[rng.permutation(50)[:30]]))
    assert torch.equal(old.x_test, to_16x16(test_images[rng.permutation(20)[:12]]))
    with pytest.raises(DataError, match="unknown draw order 'sideways'"):
        load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, order="sideways")


def test_unused_training_digits_as_validation(mnist_root):
    """unused_val: the training digits the draw left out (the next ones of train's permutation) validate."""
    d = load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, seed=5, unused_val=15)
    images = read_idx(mnist_root / "mnist" / "train-images-idx3-ubyte.gz")
    rng = np.random.RandomState(5)
    rng.permutation(20)
    perm = rng.permutation(50)
    assert torch.equal(d.x_train, to_16x16(images[perm[:30]])) and torch.equal(d.x_val, to_16x16(images[perm[30:45]]))
    assert d.summary() == "mnist16: 30 train / 15 validation (held out of the training digits) / 12 test digits"
    with pytest.raises(DataError, match="asked for 21 unused training digits as validation, .* has 20 left"):
        load_mnist16(mnist_root, download=False, verify=False, n_train=30, n_test=12, unused_val=21)


# The first 14 mistakes his vis.ipynb draws on each split (karpathy/lecun1989-repro, commit 34c22c7, the
# model of his first README's 44 / 81 run), located pixel for pixel (correlation 1.000 each) among the
# digits of the test-first draw: (position in the split, the label his title shows as gt). In increasing
# order, as his loop finds them; the train-first draw holds 6 of the 14 test digits, at other positions.
HIS_TEST_MISTAKES = ((18, 2), (55, 3), (94, 8), (111, 8), (179, 7), (184, 8), (190, 5), (195, 8), (248, 5),
                     (315, 0), (316, 1), (334, 8), (402, 8), (421, 1))
HIS_TRAIN_MISTAKES = ((123, 7), (212, 2), (692, 3), (971, 8), (1004, 9), (1127, 8), (1267, 3), (1339, 3),
                      (1350, 9), (1492, 2), (1676, 5), (2007, 3), (2332, 6), (2622, 7))


def test_his_digits_are_the_test_first_draw(shared_data_root):
    """The labels at the positions of his notebook's mistakes are his titles' labels in the test-first
    draw, and not in the train-first one."""
    root = shared_data_root
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST not found under {root}/mnist")
    his = load_mnist16(root, download=False, verify=False)
    old = load_mnist16(root, download=False, verify=False, order="train_first")
    for y, mistakes in ((his.y_test, HIS_TEST_MISTAKES), (his.y_train, HIS_TRAIN_MISTAKES)):
        assert [int(y[i]) for i, _ in mistakes] == [label for _, label in mistakes]
    assert [int(old.y_test[i]) for i, _ in HIS_TEST_MISTAKES] != [label for _, label in HIS_TEST_MISTAKES]
    # The two draws share few digits (issue 43: 391 of 2,007 test digits).
    shared = {tuple(x.flatten().tolist()) for x in his.x_test} & {tuple(x.flatten().tolist()) for x in old.x_test}
    assert len(shared) == 391


def test_mnist_checks(mnist_root):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: md5 .* does not match the canonical 9fb629c4"):
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

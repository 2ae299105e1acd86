"""Integration: the team's copies of USPS and MNIST load and verify (skipped without them)."""

import pytest
import torch

from repro.data import load_digits

pytestmark = pytest.mark.integration

# ../shared/data/README.md
USPS_CLASS_COUNTS = {
    "train": [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644],
    "test": [359, 264, 198, 166, 200, 160, 170, 147, 166, 177],
}


def test_usps_verifies_by_content(shared_data_root):
    d = load_digits("usps", shared_data_root, download=False, verify=True)
    assert d.summary() == "usps: 7291 train / 2007 test digits"
    for split, counts in USPS_CLASS_COUNTS.items():
        assert d.class_counts(split) == counts
    assert float(d.x_train.min()) == -1.0 and float(d.x_train.max()) == 1.0


def test_mnist16_karpathy_protocol(shared_data_root, shared_data_missing):
    if not (shared_data_root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        shared_data_missing(f"no MNIST under {shared_data_root}")
    d = load_digits("mnist16", shared_data_root, download=False, verify=True)
    assert d.summary() == "mnist16: 7291 train / 2007 test digits"
    assert d.x_train.shape == (7291, 1, 16, 16)
    assert -1.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    assert min(d.class_counts("train")) > 500  # a random subset has every class
    assert not torch.equal(d.x_train[:10], d.x_test[:10])

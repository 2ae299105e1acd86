"""The validation split carved from the training data (repro/data/holdout.py,
`data.val_size`): stratified, fixed by its own seed, disjoint from training."""

from __future__ import annotations

import pytest
import torch

from repro.data import DataError, DigitSplits
from repro.data.holdout import stratified_holdout


def test_each_class_keeps_its_share_and_the_parts_are_disjoint():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    keep, held = stratified_holdout(labels, 10, seed=0)
    assert len(held) == 10 and len(keep) == 90
    assert torch.bincount(labels[held], minlength=3).tolist() == [5, 3, 2]
    assert sorted(torch.cat([keep, held]).tolist()) == list(range(100))
    assert torch.equal(keep, keep.sort().values) and torch.equal(held, held.sort().values)


def test_largest_remainders_fill_the_size_exactly():
    labels = torch.tensor([0] * 7 + [1] * 7 + [2] * 6)  # 20 examples, 3 held: exact shares 1.05, 1.05, 0.9
    _, held = stratified_holdout(labels, 3, seed=0)
    assert torch.bincount(labels[held], minlength=3).tolist() == [1, 1, 1]


def test_the_split_is_a_function_of_its_own_seed():
    labels = torch.arange(200) % 10
    a, b, c = (stratified_holdout(labels, 40, seed)[1] for seed in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("size", [-1, 0, 100])
def test_a_size_outside_the_training_set_is_a_data_error(size):
    with pytest.raises(DataError, match=rf"data.val_size={size}: hold out between 1 and 99 of the 100"):
        stratified_holdout(torch.arange(100) % 10, size, 0)


def test_digit_splits_with_holdout_moves_digits_out_of_training():
    x = torch.randn(30, 1, 16, 16)
    y = torch.arange(30) % 10
    digits = DigitSplits("toy", x, y, x[:5], y[:5])
    assert digits.with_holdout(0, 0) is digits
    held = digits.with_holdout(10, 3)
    assert (len(held.y_train), len(held.y_val)) == (20, 10)
    assert torch.bincount(held.y_val, minlength=10).tolist() == [1] * 10
    rows = {tuple(r.flatten().tolist()) for r in held.x_train} | {tuple(r.flatten().tolist()) for r in held.x_val}
    assert len(rows) == 30  # every training digit is in exactly one part
    assert held.summary() == "toy: 20 train / 10 validation (held out of the training digits) / 5 test digits"

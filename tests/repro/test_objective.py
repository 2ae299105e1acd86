"""What a run returns to a Hydra sweeper (repro/app.py): the validation error,
else the final training loss; never the test error."""

from __future__ import annotations

import pytest

from repro.app import sweep_objective, with_holdout


def test_the_validation_error_when_there_is_a_validation_split():
    final = {"train": {"loss": 0.1, "error": 2.0}, "holdout": {"loss": 0.2, "error": 6.6}, "test": {"error": 9.5}}
    assert sweep_objective({"final": final, "final_train_step_loss": 0.3}) == 6.6


def test_else_the_final_training_loss_never_the_test_error():
    # lecun1989 evaluates the train split after every pass; AlexNet's `val` is the paper's test set.
    assert sweep_objective({"final": {"train": {"loss": 0.1, "error": 2.0}, "test": {"error": 9.5}},
                            "final_train_step_loss": 0.3}) == 0.1
    assert sweep_objective({"final": {"val": {"loss": 1.9, "error": 70.0}, "val10": {"error": 68.0}},
                            "final_train_step_loss": 2.25}) == 2.25


def test_without_any_training_loss_it_fails_loudly():
    with pytest.raises(KeyError):
        sweep_objective({"final": {"test": {"error": 9.5}}})


def test_the_validation_split_is_evaluated_after_train():
    assert list(with_holdout({"train": 1, "test": 2}, 9)) == ["train", "holdout", "test"]
    assert list(with_holdout({"val": 1}, 9)) == ["holdout", "val"]

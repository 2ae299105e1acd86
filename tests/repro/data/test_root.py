"""Where the data root comes from: config, else $REPRO_DATA_ROOT, else ./data."""

from pathlib import Path

import pytest
import torch

from repro.data import DigitSplits, resolve_data_root


def test_config_beats_environment_beats_default(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "cfg") == tmp_path / "cfg"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("REPRO_DATA_ROOT")
    monkeypatch.chdir(tmp_path)
    assert resolve_data_root(None) == tmp_path / "data"
    assert resolve_data_root("rel") == tmp_path / "rel"
    assert resolve_data_root("rel").is_absolute()


def test_digit_splits_validate_their_tensors():
    x = torch.zeros(4, 1, 16, 16)
    y = torch.tensor([0, 1, 2, 9])
    assert DigitSplits("t", x, y, x, y).class_counts("train") == [1, 1, 1] + [0] * 6 + [1]
    with pytest.raises(ValueError, match="x must be float32"):
        DigitSplits("t", x.double(), y, x, y)
    with pytest.raises(ValueError, match="y must be int64"):
        DigitSplits("t", x, y.int(), x, y)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        DigitSplits("t", x, torch.tensor([0, 1, 2, 10]), x, y)

"""Digit data sets by name, as the `data.name` config chooses them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .digits import DigitSplits
from .mnist import load_mnist16
from .usps import load_usps

LOADERS: dict[str, Callable[..., DigitSplits]] = {"usps": load_usps, "mnist16": load_mnist16}


def load_digits(name: str, root: Path, download: bool = True, verify: bool = True, **options: Any) -> DigitSplits:
    if name not in LOADERS:
        raise ValueError(f"unknown digit data set {name!r}; choose one of {sorted(LOADERS)}")
    return LOADERS[name](Path(root), download=download, verify=verify, **options)

"""The 1989 era's data: the typed `data` config group and the digit loader it selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from repro.data import DigitSplits, load_digits, resolve_data_root


@dataclass(frozen=True)
class DataConfig:
    name: Literal["usps", "mnist16"] = "usps"
    # Where data lives; the config default reads $REPRO_DATA_ROOT, else ./data.
    root: str | None = None
    download: bool = True  # fetch missing files (checksum-verified) when online
    verify: bool = True  # check files against the canonical content sums
    # mnist16 only (Karpathy's protocol): subset sizes and the subset seed.
    n_train: int = 7291
    n_test: int = 2007
    subset_seed: int = 1337

    def validate(self) -> None:
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError("n_train and n_test must be >= 1")


def load_data(data: DataConfig) -> DigitSplits:
    root = resolve_data_root(data.root)
    options = {}
    if data.name == "mnist16":
        options = {"n_train": data.n_train, "n_test": data.n_test, "seed": data.subset_seed}
    return load_digits(data.name, root, download=data.download, verify=data.verify, **options)

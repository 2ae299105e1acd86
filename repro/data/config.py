"""The typed `data` config group shared by the digit data sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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

"""The in-memory form every digit data set loads into."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

IMAGE_SHAPE = (1, 16, 16)
N_CLASSES = 10


@dataclass(frozen=True)
class DigitSplits:
    """Train and test digits: x float32 [N, 1, 16, 16] in [-1, 1], y int64 class 0..9."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    sources: tuple[str, ...] = field(default=())
    # The validation split carved from the training digits (with_holdout); empty when there is none.
    x_val: torch.Tensor = field(default_factory=lambda: torch.empty(0, *IMAGE_SHAPE))
    y_val: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.int64))

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != torch.float32 or tuple(x.shape[1:]) != IMAGE_SHAPE:
                raise ValueError(f"{self.name} {split}: x must be float32 [N, 1, 16, 16], got {x.dtype} {list(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"{self.name} {split}: y must be int64 [{x.shape[0]}], got {y.dtype} {list(y.shape)}")
            if x.shape[0] == 0:
                raise ValueError(f"{self.name} {split}: no digits")
            if int(y.min()) < 0 or int(y.max()) >= N_CLASSES:
                raise ValueError(f"{self.name} {split}: labels must lie in 0..9")

    def summary(self) -> str:
        held = f" / {len(self.y_val)} validation (held out of the training digits)" if len(self.y_val) else ""
        return f"{self.name}: {len(self.y_train)} train{held} / {len(self.y_test)} test digits"

    def with_holdout(self, size: int, seed: int) -> "DigitSplits":
        """These splits with ``size`` training digits held out as a stratified
        validation split (repro/data/holdout.py); ``size`` 0 changes nothing."""
        if size == 0:
            return self
        from .holdout import stratified_holdout

        keep, held = stratified_holdout(self.y_train, size, seed)
        return replace(self, x_train=self.x_train[keep], y_train=self.y_train[keep],
                       x_val=self.x_train[held], y_val=self.y_train[held])

    def class_counts(self, split: str) -> list[int]:
        y = self.y_train if split == "train" else self.y_test
        return torch.bincount(y, minlength=N_CLASSES).tolist()

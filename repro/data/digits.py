"""The in-memory form every digit data set loads into."""

from __future__ import annotations

from dataclasses import dataclass, field

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
        return f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test digits"

    def class_counts(self, split: str) -> list[int]:
        y = self.y_train if split == "train" else self.y_test
        return torch.bincount(y, minlength=N_CLASSES).tolist()

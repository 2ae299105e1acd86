"""Tricks on what the network sees: more data, and augmentation."""

from __future__ import annotations

from dataclasses import dataclass

from .trick import Stage, Trick, edit, register


@dataclass(frozen=True)
class MoreDataParams:
    # Karpathy 2022, "cheating with data": 50,000 MNIST training digits at
    # 16x16 instead of 7,291; tested on his 2,007-digit MNIST test subset.
    n_train: int = 50000
    n_test: int = 2007

    def validate(self) -> None:
        if not 1 <= self.n_train <= 60000 or not 1 <= self.n_test <= 10000:
            raise ValueError("n_train must be in 1..60000 and n_test in 1..10000 (MNIST's sizes)")


MORE_DATA = register(Trick(
    name="more_data",
    origin="Karpathy 2022, 'cheating with data': MNIST digits (LeCun et al. 1998) at 16x16",
    summary="train on {n_train:,} MNIST digits at 16x16 (Karpathy's protocol) instead of 7,291 USPS digits, "
            "test on {n_test:,}",
    stage=Stage.DATA,
    changes=("data.name", "data.n_train", "data.n_test"),
    params=MoreDataParams,
    apply=lambda r, p: edit(r, {"data.name": "mnist16", "data.n_train": p.n_train, "data.n_test": p.n_test}),
))


@dataclass(frozen=True)
class ShiftParams:
    shift: int = 1  # Karpathy: "shift the input images by up to 1 pixel horizontally or vertically"
    # Karpathy's modern.py uses torch.roll (wraps ink to the opposite edge). We
    # fill with the background instead: USPS digits are scaled to touch the
    # borders of the 16x16 box, so wrapping would paste ink onto the far edge.
    wrap: bool = False

    def validate(self) -> None:
        if self.shift < 1:
            raise ValueError("shift must be >= 1")


AUGMENT_SHIFT = register(Trick(
    name="augment_shift",
    origin="Simard, Steinkraus & Platt 2003 (distorted digits); Karpathy 2022 (1-pixel shifts for this net)",
    summary="shift every training digit by a random -{shift}..{shift} pixels in x and in y, wrap={wrap} "
            "(false: the uncovered border takes the background)",
    stage=Stage.DATA,
    changes=("augment.shift", "augment.wrap"),
    params=ShiftParams,
    apply=lambda r, p: edit(r, {"augment.shift": p.shift, "augment.wrap": p.wrap}),
))

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
    # Karpathy's digits: his 2,007 test digits are the test-first draw (repro/data/mnist.py).
    changes=("data.name", "data.n_train", "data.n_test", "data.draw_order"),
    params=MoreDataParams,
    apply=lambda r, p: edit(r, {"data.name": "mnist16", "data.n_train": p.n_train, "data.n_test": p.n_test,
                                "data.draw_order": "test_first"}),
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


@dataclass(frozen=True)
class DistortParams:
    # Simard, Steinkraus & Platt 2003 ("Best practices for convolutional neural networks applied
    # to visual document analysis"): affine distortions and elastic ones (alpha 34, sigma 4 on
    # 28x28 MNIST) took their convolutional net from 0.6% to 0.4% test error. The values here are
    # our guesses for 16x16 digits, Simard's field scaled by 16/28; choose them on a holdout.
    rotate: float = 10.0  # degrees
    scale: float = 0.1
    shear: float = 0.1
    elastic_alpha: float = 8.0  # pixels
    elastic_sigma: float = 2.3  # pixels (4 * 16 / 28)

    def validate(self) -> None:
        if min(self.rotate, self.scale, self.shear, self.elastic_alpha) < 0 or self.elastic_sigma <= 0:
            raise ValueError("rotate, scale, shear and elastic_alpha must be >= 0 and elastic_sigma > 0")
        if not (self.rotate or self.scale or self.shear or self.elastic_alpha):
            raise ValueError("augment_distort with every distortion 0 does nothing")


AUGMENT_DISTORT = register(Trick(
    name="augment_distort",
    origin="Simard, Steinkraus & Platt 2003 (affine and elastic distortions of the training digits)",
    summary="distort every training digit: rotation up to {rotate} degrees, scaling up to {scale} per axis, "
            "shear up to {shear}, elastic field alpha={elastic_alpha} px, sigma={elastic_sigma} px",
    stage=Stage.DATA,
    changes=("augment.rotate", "augment.scale", "augment.shear", "augment.elastic_alpha", "augment.elastic_sigma"),
    params=DistortParams,
    apply=lambda r, p: edit(r, {"augment.rotate": p.rotate, "augment.scale": p.scale, "augment.shear": p.shear,
                                "augment.elastic_alpha": p.elastic_alpha, "augment.elastic_sigma": p.elastic_sigma}),
))

"""AlexNet 2012 input pipeline on tensors: mean subtraction, crops, flips, PCA lighting.

Paper, section 2: images are rescaled to 256x256 and "we did not pre-process
the images in any other way, except for subtracting the mean activity over the
training set from each pixel. So we trained our network on the (centered) raw
RGB values of the pixels." We keep raw 0..255 units and never divide by a std.

Paper, section 4.1, training: "extracting random 224x224 patches (and their
horizontal reflections) from the 256x256 images", and PCA lighting: to every
pixel of an image add [p1, p2, p3][a1*l1, a2*l2, a3*l3]^T with a_i ~ N(0, 0.1)
drawn "only once for all the pixels of a particular training image until that
image is used for training again".

Paper, section 4.1, testing: "extracting five 224x224 patches (the four corner
patches and the center patch) as well as their horizontal reflections (hence
ten patches in all), and averaging the predictions made by the network's
softmax layer on the ten patches" -- `ten_crop_batch` + `average_softmax`.

All functions take uint8 (N, 3, S, S) on any device and return float32 on that
device. Randomness is drawn on the CPU from an explicit torch.Generator (then
moved), so a run is reproducible and identical on CPU and GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from .stats import ImageStats

# The 8-bit range the paper's 0..255 pixel values live in.
PIXEL_MAX = 255.0


@dataclass(frozen=True)
class AugmentConfig:
    # Paper: 224x224 patches of 256x256 images. (227 makes the paper's layer
    # sizes add up with stride 4 and no padding; choose it here if the model does.)
    crop: int = 224
    # Paper: random horizontal reflections during training.
    flip: bool = True
    # Paper: alpha_i ~ N(0, 0.1), one draw per image and component. 0 turns lighting off.
    lighting_std: float = 0.1
    # Paper: per-pixel mean image. "channel": one mean per RGB channel, as many
    # reimplementations do; "none": no centring.
    mean: Literal["pixel", "channel", "none"] = "pixel"
    # Paper is ambiguous about units: it adds alpha_i * lambda_i along p_i, but an
    # eigenvalue is a variance (pixel units squared), so the shift depends on the
    # pixel scale. stats.eigval is in 0..255 units squared. Shift along p_i:
    #   "unit":  alpha_i * lambda_i / 255, i.e. the formula with pixels in [0, 1],
    #            converted back to 0..255 (Caffe / fb.resnet.torch convention; their
    #            ImageNet eigval [0.2175, 0.0188, 0.0045] are on that scale).
    #   "pixel": alpha_i * lambda_i, the formula literally in 0..255 units (shifts
    #            of hundreds of pixel levels on natural images).
    #   "sqrt":  alpha_i * sqrt(lambda_i), scale-free: alpha in standard deviations
    #            of the component.
    lighting_units: Literal["unit", "pixel", "sqrt"] = "unit"
    # Not in the paper (its patches are smaller than the images): training images get `pad` pixels of
    # zero on every side before the crop, zero *after* mean subtraction (He et al. 2016, section 4.2,
    # subtract the per-pixel mean, then "4 pixels are padded on each side" for CIFAR-10's 32x32 crops).
    # Testing never pads: the centre crop of the image itself.
    pad: int = 0

    def validate(self) -> None:
        if self.crop < 1:
            raise ValueError(f"crop must be >= 1, got {self.crop}")
        if self.pad < 0:
            raise ValueError(f"pad must be >= 0, got {self.pad}")
        if not (math.isfinite(self.lighting_std) and self.lighting_std >= 0):
            raise ValueError(f"lighting_std must be a finite number >= 0, got {self.lighting_std}")
        if self.mean not in ("pixel", "channel", "none"):
            raise ValueError(f"mean must be 'pixel', 'channel' or 'none', got {self.mean!r}")
        if self.lighting_units not in ("unit", "pixel", "sqrt"):
            raise ValueError(f"lighting_units must be 'unit', 'pixel' or 'sqrt', got {self.lighting_units!r}")


# ---------------------------------------------------------------- geometry


def center_offset(size: int, crop: int) -> int:
    """Top (= left) offset of the centre crop: floor((S - crop) / 2).

    An odd difference puts the extra pixel after the crop: S=256, crop=227 leaves
    29 pixels, 14 above/left and 15 below/right.
    """
    _check_crop(size, crop)
    return (size - crop) // 2


def ten_crop_offsets(size: int, crop: int) -> list[tuple[int, int]]:
    """(top, left) of the five test patches: top-left, top-right, bottom-left,
    bottom-right, centre. `ten_crop_batch` adds their mirror images."""
    far, mid = size - crop, center_offset(size, crop)
    return [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]


def _check_crop(size: int, crop: int) -> None:
    if not 1 <= crop <= size:
        raise ValueError(f"crop {crop} does not fit in images of size {size}")


def _check_input(x: torch.Tensor, stats: ImageStats, cfg: AugmentConfig, pad: int = 0) -> None:
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
        raise ValueError(f"expected uint8 images (N, 3, S, S), got {x.dtype} {tuple(x.shape)}")
    _check_crop(x.shape[-1] + 2 * pad, cfg.crop)
    if cfg.mean == "pixel" and stats.mean.shape[-1] != x.shape[-1]:
        raise ValueError(f"mean image is {stats.size}x{stats.size} but images are {x.shape[-1]}x{x.shape[-1]}")


# ---------------------------------------------------------------- mean


def _fixed_patch(x: torch.Tensor, stats: ImageStats, cfg: AugmentConfig, top: int, left: int) -> torch.Tensor:
    """The (top, left) patch of every image, minus the training mean, float32."""
    c = cfg.crop
    patch = x[:, :, top : top + c, left : left + c].float()
    if cfg.mean == "pixel":
        return patch - stats.mean[:, top : top + c, left : left + c].to(device=x.device, dtype=torch.float32)
    if cfg.mean == "channel":
        return patch - stats.channel_mean.to(x.device)[:, None, None]
    return patch


def _mean_patches(stats: ImageStats, cfg: AugmentConfig, rows: torch.Tensor, cols: torch.Tensor, device) -> torch.Tensor:
    """The mean to subtract from each cropped patch, broadcastable to (N, 3, c, c)."""
    if cfg.mean == "pixel":
        mean = stats.mean.to(device=device, dtype=torch.float32)
        channels = torch.arange(3, device=device)
        return mean[channels[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
    if cfg.mean == "channel":
        return stats.channel_mean.to(device)[None, :, None, None]
    return torch.zeros((), device=device)  # mean == "none"


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainDraws:
    """The random choices for one training batch (CPU tensors).

    top, left: int64 (N,) crop offsets, uniform over 0..S+2*pad-crop (in the padded image).
    flip:      bool (N,), each True with probability 1/2.
    alpha:     float64 (N, 3), N(0, lighting_std) lighting coefficients.
    """

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor
    alpha: torch.Tensor


def draw_train(n: int, size: int, cfg: AugmentConfig, generator: torch.Generator) -> TrainDraws:
    """Draw a batch's crops, flips and lighting alphas from ``generator``, in that order.

    Every draw is made whatever the config (flip=False still draws flips,
    lighting_std=0 still draws alphas), so switching one augmentation off leaves
    the others' random choices unchanged: ablations compare like with like.
    """
    _check_crop(size + 2 * cfg.pad, cfg.crop)
    span = size + 2 * cfg.pad - cfg.crop + 1
    top = torch.randint(0, span, (n,), generator=generator)
    left = torch.randint(0, span, (n,), generator=generator)
    flip = torch.randint(0, 2, (n,), generator=generator).bool() & cfg.flip
    alpha = torch.randn(n, 3, generator=generator, dtype=torch.float64) * cfg.lighting_std
    return TrainDraws(top=top, left=left, flip=flip, alpha=alpha)


def lighting_shift(alpha: torch.Tensor, stats: ImageStats, cfg: AugmentConfig) -> torch.Tensor:
    """float32 (N, 3): the RGB vector eigvec @ (alpha * scale(eigval)) per image."""
    eigval = stats.eigval.double().cpu()
    if cfg.lighting_units == "unit":
        scale = eigval / PIXEL_MAX
    elif cfg.lighting_units == "pixel":
        scale = eigval
    else:
        scale = eigval.sqrt()
    return ((alpha.double().cpu() * scale) @ stats.eigvec.double().cpu().T).float()


def apply_train(x: torch.Tensor, stats: ImageStats, cfg: AugmentConfig, draws: TrainDraws) -> torch.Tensor:
    """Crop, mirror, centre and light ``x`` as ``draws`` say: float32 (N, 3, crop, crop).
    With cfg.pad, the offsets are in the padded image and a patch's pixels outside the
    image are 0 (after mean subtraction and lighting: the pad is zero input)."""
    _check_input(x, stats, cfg, cfg.pad)
    if not all(t.shape[0] == x.shape[0] for t in (draws.top, draws.left, draws.flip, draws.alpha)):
        raise ValueError(f"draws are for a different batch size than {x.shape[0]} images")
    device, c = x.device, cfg.crop
    if c == x.shape[-1] and not cfg.pad and not bool(draws.flip.any()):
        # Whole images, none mirrored (cuda-convnet's CIFAR recipes): the gather below would read every
        # pixel and the mean image once per image in order; the same values without the index passes.
        shift = lighting_shift(draws.alpha, stats, cfg).to(device)[:, :, None, None]
        return _fixed_patch(x, stats, cfg, 0, 0).add_(shift)
    steps = torch.arange(c)
    rows = draws.top[:, None] + steps - cfg.pad  # image coordinates: outside 0..S-1 on the pad
    # A mirrored patch reads its columns right to left: crop and flip in one gather.
    cols = draws.left[:, None] + torch.where(draws.flip[:, None], c - 1 - steps, steps) - cfg.pad
    inside = None
    if cfg.pad:
        size = x.shape[-1]
        inside = (((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :])
        rows, cols = rows.clamp(0, size - 1), cols.clamp(0, size - 1)  # read any pixel there, zeroed below
    rows, cols = rows.to(device), cols.to(device)
    images = torch.arange(x.shape[0], device=device)[:, None, None, None]
    channels = torch.arange(3, device=device)[None, :, None, None]
    # Gather the uint8 pixels first (1 byte each), then convert only the patch.
    patch = x[images, channels, rows[:, None, :, None], cols[:, None, None, :]].float()
    patch = patch - _mean_patches(stats, cfg, rows, cols, device)
    patch = patch + lighting_shift(draws.alpha, stats, cfg).to(device)[:, :, None, None]
    return patch if inside is None else patch * inside.to(device)[:, None]


def train_batch(x: torch.Tensor, stats: ImageStats, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """The paper's training input: a random crop, a random mirror and PCA lighting
    per image, after mean subtraction. float32 (N, 3, crop, crop) on x's device."""
    return apply_train(x, stats, cfg, draw_train(x.shape[0], x.shape[-1], cfg, generator))


# ---------------------------------------------------------------- testing


def center_batch(x: torch.Tensor, stats: ImageStats, cfg: AugmentConfig) -> torch.Tensor:
    """1-crop testing: mean subtraction and the centre patch, float32 (N, 3, crop, crop)."""
    _check_input(x, stats, cfg)
    o = center_offset(x.shape[-1], cfg.crop)
    return _fixed_patch(x, stats, cfg, o, o)


def ten_crop_batch(x: torch.Tensor, stats: ImageStats, cfg: AugmentConfig) -> torch.Tensor:
    """10-crop testing: float32 (10, N, 3, crop, crop).

    Order: top-left, top-right, bottom-left, bottom-right, centre, then the same
    five mirrored. The paper averages the network's softmax outputs over the ten
    patches; the caller runs the network on each and calls `average_softmax`.
    """
    _check_input(x, stats, cfg)
    patches = [_fixed_patch(x, stats, cfg, t, l) for t, l in ten_crop_offsets(x.shape[-1], cfg.crop)]
    # Mean subtraction happens before mirroring, so mirror the centred patches.
    patches += [p.flip(-1) for p in patches]
    return torch.stack(patches)


def average_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Mean over patches of the softmax outputs: (K, N, C) logits -> (N, C) probabilities."""
    if logits.ndim != 3:
        raise ValueError(f"expected logits (K patches, N, C), got shape {tuple(logits.shape)}")
    return torch.softmax(logits.float(), dim=-1).mean(dim=0)

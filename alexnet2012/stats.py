"""Training-set image statistics for AlexNet 2012: the mean image and RGB PCA.

Paper, section 2: "We did not pre-process the images in any other way, except
for subtracting the mean activity over the training set from each pixel" -- a
per-pixel mean image (3, S, S) in raw 0..255 units.

Paper, section 4.1: "we perform PCA on the set of RGB pixel values throughout
the ImageNet training set" -- eigenvalues and eigenvectors of the 3x3
covariance of RGB pixel values, used by the lighting augmentation (augment.py).

`compute_stats` streams over uint8 batches and never holds the data set. It
accumulates pixel values minus 128 in float64: every term is then an integer of
magnitude <= 128**2, so all the sums stay exact integers while they are below
2**53 (about 5e11 pixels, six times ImageNet at 256x256). Exact sums make the
result independent of how the data is split into batches and of their order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from repro.train.atomic import save_torch_atomic

FORMAT = "alexnet2012.ImageStats"
VERSION = 1
# Centre of the uint8 range; keeps the float64 accumulation exact (see above).
_SHIFT = 128.0
# Images per chunk inside a batch: bounds the float64 working copy (~50 MB at S=256).
_CHUNK = 32


@dataclass(frozen=True)
class ImageStats:
    """Per-pixel mean image and RGB PCA of a training set, in raw pixel units.

    mean:   float32 (3, S, S), the mean image.
    eigval: float64 (3,), eigenvalues of the RGB covariance (pixel units squared),
            descending.
    eigvec: float64 (3, 3), column i is the eigenvector of eigval[i]; its
            largest-magnitude component is positive, so saved stats are stable.
    count:  number of images the stats were computed from.
    """

    mean: torch.Tensor
    eigval: torch.Tensor
    eigvec: torch.Tensor
    count: int

    def __post_init__(self) -> None:
        if self.mean.ndim != 3 or self.mean.shape[0] != 3 or self.mean.shape[1] != self.mean.shape[2]:
            raise ValueError(f"ImageStats.mean must have shape (3, S, S), got {tuple(self.mean.shape)}")
        if tuple(self.eigval.shape) != (3,) or tuple(self.eigvec.shape) != (3, 3):
            raise ValueError(
                f"ImageStats.eigval/eigvec must have shapes (3,) and (3, 3), got "
                f"{tuple(self.eigval.shape)} and {tuple(self.eigvec.shape)}"
            )

    @property
    def size(self) -> int:
        """S, the side of the images these stats describe."""
        return self.mean.shape[-1]

    @property
    def channel_mean(self) -> torch.Tensor:
        """float32 (3,): per-channel mean (all images have the same size, so
        this is the mean over every pixel of the training set)."""
        return self.mean.double().mean(dim=(1, 2)).float()

    @property
    def cov(self) -> torch.Tensor:
        """float64 (3, 3): the RGB covariance rebuilt from its eigen decomposition."""
        v = self.eigvec.double()
        return v @ torch.diag(self.eigval.double()) @ v.T


def pca(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending, clamped at 0) and eigenvectors (columns, sign-fixed)."""
    eigval, eigvec = torch.linalg.eigh(cov.double())
    eigval, eigvec = eigval.flip(0), eigvec.flip(1)
    # Rounding can leave a tiny negative eigenvalue; a variance cannot be negative.
    eigval = eigval.clamp_min(0.0)
    # eigh's signs are arbitrary: make each column's largest-|.| component positive.
    pivot = eigvec.abs().argmax(dim=0)
    signs = torch.sign(eigvec.gather(0, pivot[None])).squeeze(0)
    return eigval, eigvec * signs


def compute_stats(batches: Iterable[torch.Tensor]) -> ImageStats:
    """Mean image and RGB PCA over uint8 batches (B, 3, S, S), streaming.

    The covariance is the population covariance (divide by the pixel count);
    over millions of pixels the choice does not matter.
    """
    pixel_sum = None  # float64 (3, S, S): sum of images, minus the shift
    rgb_sum = None  # float64 (3,): sum of RGB pixel vectors, minus the shift
    rgb_outer = None  # float64 (3, 3): sum of outer products of shifted RGB vectors
    count = 0
    for i, batch in enumerate(batches):
        if not isinstance(batch, torch.Tensor) or batch.dtype != torch.uint8:
            raise TypeError(f"batch {i}: expected a uint8 tensor, got {getattr(batch, 'dtype', type(batch))}")
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[2] != batch.shape[3]:
            raise ValueError(f"batch {i}: expected shape (B, 3, S, S), got {tuple(batch.shape)}")
        if pixel_sum is None:
            pixel_sum = torch.zeros(batch.shape[1:], dtype=torch.float64, device=batch.device)
            rgb_sum = torch.zeros(3, dtype=torch.float64, device=batch.device)
            rgb_outer = torch.zeros(3, 3, dtype=torch.float64, device=batch.device)
        elif batch.shape[1:] != pixel_sum.shape:
            raise ValueError(f"batch {i}: image shape {tuple(batch.shape[1:])} differs from {tuple(pixel_sum.shape)}")
        for chunk in batch.to(pixel_sum.device).split(_CHUNK):
            x = chunk.double() - _SHIFT
            pixel_sum += x.sum(dim=0)
            rgb = x.transpose(0, 1).reshape(3, -1)
            rgb_sum += rgb.sum(dim=1)
            rgb_outer += rgb @ rgb.T
        count += batch.shape[0]
    if count == 0:
        raise ValueError("compute_stats: no images (empty iterable or empty batches)")

    pixels = count * pixel_sum.shape[1] * pixel_sum.shape[2]
    mean_rgb = rgb_sum / pixels
    cov = rgb_outer / pixels - torch.outer(mean_rgb, mean_rgb)
    eigval, eigvec = pca(cov.cpu())
    mean = (pixel_sum / count + _SHIFT).float().cpu()
    return ImageStats(mean=mean, eigval=eigval, eigvec=eigvec, count=count)


def save_stats(stats: ImageStats, path: str | Path) -> None:
    """Write ``stats`` to ``path`` atomically (a reader never sees half a file)."""
    save_torch_atomic(
        Path(path),
        {
            "format": FORMAT,
            "version": VERSION,
            "mean": stats.mean.cpu(),
            "eigval": stats.eigval.cpu(),
            "eigvec": stats.eigvec.cpu(),
            "count": int(stats.count),
        },
    )


def load_stats(path: str | Path) -> ImageStats:
    """Read stats written by `save_stats`; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image stats file not found: {path} (compute it with compute_stats + save_stats)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable image stats file ({exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not an image stats file (expected format {FORMAT!r})")
    if blob.get("version") != VERSION:
        raise ValueError(f"{path}: image stats version {blob.get('version')!r}, this code reads {VERSION}")
    missing = sorted({"mean", "eigval", "eigvec", "count"} - set(blob))
    if missing:
        raise ValueError(f"{path}: image stats file lacks {missing}")
    try:
        return ImageStats(mean=blob["mean"], eigval=blob["eigval"], eigvec=blob["eigvec"], count=int(blob["count"]))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc

"""The image data an AlexNet run trains on, chosen by the `data` config group.

ILSVRC-2012 (the paper's: JPEG folders, or the pre-resized packed format of
`alexnet2012-pack`) and CIFAR-10 (the 32x32 set we have on every machine, the
CI-sized target). Either way the run sees uint8 images at one stored size, the
training set's per-pixel mean and RGB PCA (cached, see cache_dir), and the
labels; the paper's augmentation runs on the device (augment.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from repro.data.cifar10 import load_cifar10
from repro.data.errors import DataError
from repro.data.holdout import stratified_holdout
from repro.data.imagenet import IMAGENET_DIR, scan_imagenet
from repro.data.root import resolve_data_root

from .datasets import ArrayDataset, JpegDataset, PackedDataset
from .loader import batches
from .stats import ImageStats, compute_stats, load_stats, save_stats

log = logging.getLogger("alexnet2012")
PACKED_DIR = "packed"  # <root>/imagenet/packed/<split>_<size>/ (alexnet2012-pack)
CACHE_ENV = "REPRO_CACHE"


@dataclass(frozen=True)
class ImageDataConfig:
    name: Literal["imagenet", "cifar10"] = "imagenet"
    root: str | None = None  # the data root; the config default reads $REPRO_DATA_ROOT, else ./data
    download: bool = True  # cifar10 only: ILSVRC-2012 needs a registered download
    verify: bool = True  # cifar10: md5 of every file
    # Paper: "we down-sampled the images to a fixed resolution of 256x256 ...
    # rescaled the image such that the shorter side was of length 256, and then
    # cropped out the central 256x256 patch". cifar10 keeps its native 32.
    image_size: int = 256
    packed: bool = False  # read the pre-resized packed copy (alexnet2012-pack) instead of the JPEGs
    on_bad_image: Literal["fail", "skip"] = "fail"  # skip: drop unreadable files, counted in the record
    expected_classes: int = 1000  # imagenet: the class folders must number exactly this
    workers: int = 4  # DataLoader worker processes (0 = decode in the training process)
    pin_memory: bool = True  # only used when training on CUDA
    # Quick runs: a fixed random subset (0 = the whole split), drawn with subset_seed.
    n_train: int = 0
    n_val: int = 0
    subset_seed: int = 0
    # Images used for the mean image and the RGB PCA. Paper: the training set
    # (0 = all of it); a fixed random subset makes ImageNet's first run cheaper.
    # Cached per data location and subset (see cache_dir).
    stats_images: int = 0
    # Not in the paper: it reports ILSVRC-2012's validation set, which plays the test set
    # here (`val`), and tunes on it. val_size > 0 holds that many training images out as
    # a stratified validation split ("holdout"), drawn with val_seed, for choosing
    # without a look at `val` (repro/data/holdout.py); 0 (the default) trains on them all.
    val_size: int = 0
    val_seed: int = 0
    # false: the test images (`val`, and `val10`) are never evaluated, so a search on the
    # validation split cannot look at them (experiment=cc_ablations_tune); needs val_size > 0.
    evaluate_test: bool = True

    def validate(self) -> None:
        if self.image_size < 8:
            raise ValueError("image_size must be >= 8")
        if min(self.workers, self.n_train, self.n_val, self.stats_images, self.expected_classes, self.val_size) < 0:
            raise ValueError("workers, n_train, n_val, stats_images, expected_classes and val_size must be >= 0")
        if not self.evaluate_test and not self.val_size:
            raise ValueError("evaluate_test=false needs a validation split (data.val_size > 0): "
                             "a run must evaluate something")
        if self.name == "cifar10" and self.image_size != 32:
            raise ValueError("cifar10 images are 32x32: set data.image_size=32")


@dataclass(frozen=True)
class ImageData:
    name: str
    train: torch.utils.data.Dataset
    val: torch.utils.data.Dataset
    train_indices: torch.Tensor  # the examples a pass visits (all, or the configured subset)
    val_indices: torch.Tensor
    stats: ImageStats
    num_classes: int
    class_names: tuple[str, ...]
    # Training images held out as the validation split (data.val_size); empty when there is none.
    holdout_indices: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    def summary(self) -> str:
        held = f" (+{len(self.holdout_indices)} held out for validation)" if len(self.holdout_indices) else ""
        return (
            f"{self.name}: {len(self.train_indices)} training{held} / {len(self.val_indices)} validation images, "
            f"{self.num_classes} classes, stored at {self.stats.size}x{self.stats.size}, "
            f"mean and PCA from {self.stats.count} images"
        )


def _subset(n_total: int, n: int, seed: int) -> torch.Tensor:
    if n == 0 or n >= n_total:
        return torch.arange(n_total)
    # Sorted, so a subset reads the files in order (kinder to disks and to packed memmaps).
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def _datasets(cfg: ImageDataConfig, root: Path):
    if cfg.name == "cifar10":
        arrays = load_cifar10(root, download=cfg.download, verify=cfg.verify)
        return (
            ArrayDataset(arrays.x_train, arrays.y_train, arrays.class_names),
            ArrayDataset(arrays.x_test, arrays.y_test, arrays.class_names),
            root / "cifar10",
        )
    if cfg.packed:
        base = root / IMAGENET_DIR / PACKED_DIR
        sets = [PackedDataset(base / f"{split}_{cfg.image_size}") for split in ("train", "val")]
        for ds in sets:
            if ds.num_classes != cfg.expected_classes:
                raise DataError(
                    f"{ds.packed_dir}: {ds.num_classes} classes, but data.expected_classes={cfg.expected_classes}"
                )
        return sets[0], sets[1], base
    expected = cfg.expected_classes or None
    train = JpegDataset(scan_imagenet(root, "train", expected), cfg.image_size, cfg.on_bad_image)
    val = JpegDataset(scan_imagenet(root, "val", expected), cfg.image_size, cfg.on_bad_image)
    return train, val, root / IMAGENET_DIR


def load_image_data(cfg: ImageDataConfig) -> ImageData:
    root = resolve_data_root(cfg.root)
    train, val, home = _datasets(cfg, root)
    train_idx = _subset(len(train), cfg.n_train, cfg.subset_seed)
    val_idx = _subset(len(val), cfg.n_val, cfg.subset_seed + 1)
    holdout_idx = torch.empty(0, dtype=torch.long)
    if cfg.val_size:  # carved before the statistics: the mean image and PCA never see a held-out image
        keep, held = stratified_holdout(torch.as_tensor(train.labels)[train_idx], cfg.val_size, cfg.val_seed)
        train_idx, holdout_idx = train_idx[keep], train_idx[held]
    stats_idx = train_idx if not cfg.stats_images else train_idx[_subset(len(train_idx), cfg.stats_images, cfg.subset_seed + 2)]
    stats = cached_stats(cfg, train, stats_idx, home)
    if stats.size != cfg.image_size:
        raise DataError(f"the mean image is {stats.size}x{stats.size} but data.image_size={cfg.image_size}")
    return ImageData(
        name=cfg.name if cfg.name == "cifar10" else f"imagenet{'-packed' if cfg.packed else ''}",
        train=train,
        val=val,
        train_indices=train_idx,
        val_indices=val_idx,
        stats=stats,
        num_classes=train.num_classes,
        class_names=tuple(train.class_names),
        holdout_indices=holdout_idx,
    )


def cache_dir() -> Path:
    """$REPRO_CACHE, else $XDG_CACHE_HOME/repro, else ~/.cache/repro: never the
    data root, which may be shared or read-only."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repro"


def cached_stats(cfg: ImageDataConfig, train, indices: torch.Tensor, home: Path) -> ImageStats:
    """The training set's mean image and RGB PCA, computed once per (data
    location, subset) and kept in the cache dir; an unwritable cache just recomputes."""
    key = hashlib.sha256(
        json.dumps([str(home.resolve()), cfg.name, cfg.packed, cfg.image_size, len(train), indices.tolist()]).encode()
    ).hexdigest()[:16]
    path = cache_dir() / "image_stats" / f"{cfg.name}_{key}.pt"
    if path.is_file():
        return load_stats(path)
    log.info(f"computing the mean image and RGB PCA over {len(indices)} training images (cached in {path})")
    stats = compute_stats(x for x, _ in batches(train, indices, 256, workers=cfg.workers))
    try:
        save_stats(stats, path)
    except OSError as exc:
        log.warning(f"cannot cache image statistics in {path} ({exc}); they will be recomputed next run")
    return stats


__all__ = ["ImageData", "ImageDataConfig", "load_image_data"]

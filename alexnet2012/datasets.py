"""Image datasets for AlexNet: each item is (uint8 image [3, S, S], label).

Images stay uint8 at their stored size S (256 for ImageNet, 32 for CIFAR):
random crops, flips and the float conversion happen on the device, batched.

- `JpegDataset` decodes ILSVRC files with the paper's preprocessing: "we
  first rescaled the image such that the shorter side was of length 256, and
  then cropped out the central 256x256 patch" (Krizhevsky et al. 2012, sec. 2).
- `PackedDataset` reads the same images pre-resized by `pack.py`.
- `ArrayDataset` wraps in-memory arrays (CIFAR-10).

A skipped bad image (on_bad_image="skip") is returned as `(None, label, path)`;
`loader.batches` drops it from its batch and records it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from repro.data.errors import DataError
from repro.data.imagenet import ImageList

from .loader import GatheredBatch

OnBadImage = Literal["fail", "skip"]

PACK_FORMAT = "repro-packed-images"
PACK_VERSION = 1
PACK_IMAGES, PACK_LABELS, PACK_META = "images.u8", "labels.npy", "meta.json"


def resize_center_crop(image: Image.Image, size: int) -> np.ndarray:
    """Scale so the shorter side is `size` (antialiased bilinear), take the central size x size; uint8 HWC RGB."""
    if image.mode != "RGB":
        image = image.convert("RGB")  # ILSVRC holds some greyscale and CMYK JPEGs
    width, height = image.size
    short = min(width, height)
    # Integer rounding of the long side; the short side is exactly `size`.
    new_w = size if width == short else max(size, (width * size + short // 2) // short)
    new_h = size if height == short else max(size, (height * size + short // 2) // short)
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.BILINEAR)  # PIL widens the filter when shrinking
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image file -> uint8 [size, size, 3]; raises OSError/ValueError if it cannot be decoded."""
    with warnings.catch_warnings():
        # Pillow warns about odd EXIF/ICC chunks that some ILSVRC files carry; the pixels are fine.
        warnings.simplefilter("ignore", UserWarning)
        with Image.open(path) as image:
            image.load()
            return resize_center_crop(image, size)


def _to_chw(hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))


class JpegDataset(torch.utils.data.Dataset):
    """ILSVRC image files, decoded and resized on the fly."""

    def __init__(self, images: ImageList, size: int = 256, on_bad_image: OnBadImage = "fail"):
        if on_bad_image not in ("fail", "skip"):
            raise ValueError(f"on_bad_image must be 'fail' or 'skip', got {on_bad_image!r}")
        self.images, self.size, self.on_bad_image = images, int(size), on_bad_image
        self.labels = np.asarray(images.labels, dtype=np.int64)
        self.class_names = tuple(images.class_map.names)
        self.num_classes = len(images.class_map)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        path, label = self.images.paths[index], int(self.labels[index])
        try:
            hwc = decode_image(path, self.size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if self.on_bad_image == "skip":
                return None, label, str(path)
            raise DataError(
                f"{path}: cannot decode image ({type(exc).__name__}: {exc}). Replace the file, or set "
                "on_bad_image='skip' to drop unreadable images (each one is reported)."
            ) from exc
        return _to_chw(hwc), label


class ArrayDataset(torch.utils.data.Dataset):
    """In-memory uint8 HWC images (CIFAR-10)."""

    def __init__(self, x_uint8_hwc: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None):
        if x_uint8_hwc.dtype != np.uint8 or x_uint8_hwc.ndim != 4 or x_uint8_hwc.shape[-1] != 3:
            raise ValueError(f"expected uint8 images [N, H, W, 3], got {x_uint8_hwc.dtype} {list(x_uint8_hwc.shape)}")
        if len(labels) != len(x_uint8_hwc):
            raise ValueError(f"{len(x_uint8_hwc)} images but {len(labels)} labels")
        self.x = x_uint8_hwc
        self.labels = np.asarray(labels, dtype=np.int64)
        n_classes = int(self.labels.max(initial=-1)) + 1
        self.class_names = tuple(class_names) if class_names is not None else tuple(str(k) for k in range(n_classes))
        self.num_classes = len(self.class_names)
        self.size = int(x_uint8_hwc.shape[1])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        return _to_chw(self.x[index]), int(self.labels[index])

    def __getitems__(self, indices: Sequence[int]) -> GatheredBatch:
        """A whole batch (the DataLoader asks for it in one call): one gather of the HWC array and
        one transpose into a fresh [B, 3, S, S] tensor, the same values per-image items and their
        stack would give (a stack of 128 per-image copies cost ~0.1 s a step at 256 pixels)."""
        rows = np.asarray(indices, dtype=np.int64)
        images = torch.from_numpy(self.x[rows]).permute(0, 3, 1, 2).contiguous()
        return GatheredBatch(images, torch.from_numpy(self.labels[rows]))


def read_pack_meta(packed_dir: Path) -> dict:
    """meta.json of a finished pack; DataError for a missing, partial or foreign folder."""
    meta_path = Path(packed_dir) / PACK_META
    hint = f"(re)create it with alexnet2012.pack.pack_images(images, {packed_dir})"
    if not meta_path.is_file():
        raise DataError(f"{packed_dir} is not a complete packed image folder: {PACK_META} is missing (the pack "
                        f"was interrupted or never ran); {hint}.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{meta_path}: unreadable ({exc}); {hint}.") from exc
    if meta.get("format") != PACK_FORMAT or meta.get("version") != PACK_VERSION or meta.get("status") != "complete":
        raise DataError(f"{meta_path}: not a complete {PACK_FORMAT} version {PACK_VERSION} pack "
                        f"(format={meta.get('format')!r}, version={meta.get('version')!r}, "
                        f"status={meta.get('status')!r}); {hint}.")
    return meta


class PackedDataset(torch.utils.data.Dataset):
    """Pre-resized images from `pack.py`: images.u8 (N x S x S x 3 uint8), labels.npy, meta.json."""

    def __init__(self, packed_dir: Path):
        self.packed_dir = Path(packed_dir)
        meta = read_pack_meta(self.packed_dir)
        self.size, self.count = int(meta["size"]), int(meta["count"])
        self.class_names = tuple(meta["class_names"])
        self.num_classes = len(self.class_names)
        self.wnids = tuple(meta["wnids"])
        self.labels = np.load(self.packed_dir / PACK_LABELS).astype(np.int64, copy=False)
        expected = self.count * self.size * self.size * 3
        got = os.path.getsize(self.packed_dir / PACK_IMAGES)
        if len(self.labels) != self.count or got != expected:
            raise DataError(f"{self.packed_dir}: meta.json says {self.count} images of {self.size}x{self.size}, but "
                            f"{PACK_LABELS} has {len(self.labels)} labels and {PACK_IMAGES} {got} bytes "
                            f"(expected {expected}); repack it.")
        self._images: np.memmap | None = None
        self._pid = -1

    def __getstate__(self) -> dict:
        # Each DataLoader worker maps the file itself; never ship the parent's mapping.
        return {**self.__dict__, "_images": None, "_pid": -1}

    def _mapped(self) -> np.memmap:
        if self._images is None or self._pid != os.getpid():
            self._images = np.memmap(self.packed_dir / PACK_IMAGES, dtype=np.uint8, mode="r",
                                     shape=(self.count, self.size, self.size, 3))
            self._pid = os.getpid()
        return self._images

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        return _to_chw(self._mapped()[index]), int(self.labels[index])

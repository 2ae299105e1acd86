"""Batches of uint8 images in exactly the order the caller gives.

The sample order is a pure function of (seed, epoch), computed by the caller;
this module only cuts it into consecutive batches and decodes them, in worker
processes if asked. A resumed run passes the indices it has not yet seen.
Workers only decode and stack uint8: the float conversion and augmentation
happen on the device, where they are cheap.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, default_collate


@dataclass
class SkipLog:
    """Images dropped because they could not be decoded (on_bad_image="skip")."""

    paths: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.paths)

    def add(self, paths: Sequence[str]) -> None:
        self.paths.extend(str(p) for p in paths)


@dataclass
class GatheredBatch:
    """A batch a dataset cut out of its own arrays in one gather (its ``__getitems__``), so there
    is nothing to collate: images uint8 [B, 3, S, S], labels int64 [B]."""

    images: torch.Tensor
    labels: torch.Tensor


def collate_uint8(items: list[tuple] | GatheredBatch) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images uint8 [B, 3, S, S], labels int64 [B], skipped paths); skipped items are left out."""
    if isinstance(items, GatheredBatch):
        return items.images, items.labels, []
    kept = [item for item in items if item[0] is not None]
    skipped = [item[2] for item in items if item[0] is None]
    if not kept:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), skipped
    # default_collate stacks into shared memory inside a worker: one copy, none on the way back.
    images = default_collate([item[0] for item in kept])
    labels = torch.tensor([item[1] for item in kept], dtype=torch.int64)
    return images, labels, skipped


def batches(
    dataset,
    indices: Sequence[int] | torch.Tensor,
    batch_size: int,
    *,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch: int = 2,
    skipped: SkipLog | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An iterator of (x uint8 [B, 3, S, S], y int64 [B]) for consecutive slices of `indices`, in order.

    A batch that lost images to on_bad_image="skip" is smaller; one that lost
    all of them is not yielded. Skipped files go to `skipped`, or to a warning
    when no log was given.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = indices.tolist() if isinstance(indices, torch.Tensor) else [int(i) for i in indices]
    if order and (min(order) < 0 or max(order) >= len(dataset)):
        bad = next(i for i in order if not 0 <= i < len(dataset))
        raise IndexError(f"index {bad} is outside the dataset of {len(dataset)} images")
    slices = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    loader = DataLoader(
        dataset,
        batch_sampler=slices,
        num_workers=workers,
        collate_fn=collate_uint8,
        pin_memory=pin_memory,
        prefetch_factor=prefetch if workers > 0 else None,
        persistent_workers=False,
        # Its own generator: a DataLoader iterator otherwise draws its worker
        # base seed from the global RNG, which would shift dropout and
        # augmentation draws between a straight run and a resumed one.
        generator=torch.Generator().manual_seed(0),
    )
    return _iterate(loader, skipped)  # not a generator itself: bad arguments fail at the call


def _iterate(loader: DataLoader, skipped: SkipLog | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for images, labels, dropped in loader:
        if dropped:
            if skipped is not None:
                skipped.add(dropped)
            else:
                warnings.warn(f"skipped {len(dropped)} unreadable image(s): {', '.join(dropped)}", stacklevel=3)
        if len(labels):
            yield images, labels

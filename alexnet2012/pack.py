"""Pre-resize ILSVRC once into one flat file, so epochs read instead of decode.

A packed folder holds:

    images.u8    raw uint8, N x size x size x 3 (HWC), row i = image i
    labels.npy   int64 [N]
    meta.json    format, version, size, count, wnids, class names, skipped files;
                 written last, so its presence marks a complete pack

Each image gets exactly `JpegDataset`'s preprocessing (shorter side to `size`,
central crop), so a packed dataset equals the on-the-fly one byte for byte.
Files are written under temporary names and moved into place; an interrupted
pack leaves no meta.json and `PackedDataset` refuses the folder.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.data.errors import DataError
from repro.data.imagenet import ImageList
from repro.train.atomic import write_atomic, write_json_atomic

from .datasets import (PACK_FORMAT, PACK_IMAGES, PACK_LABELS, PACK_META, PACK_VERSION, JpegDataset, OnBadImage,
                       read_pack_meta)
from .loader import SkipLog, batches

DECODE_BATCH = 64


@dataclass(frozen=True)
class PackInfo:
    """What a finished pack holds."""

    out_dir: Path
    size: int
    count: int
    source_count: int
    skipped: tuple[str, ...]
    wnids: tuple[str, ...]
    class_names: tuple[str, ...]
    name: str


def read_pack_info(packed_dir: Path) -> PackInfo:
    meta = read_pack_meta(packed_dir)
    return PackInfo(Path(packed_dir), int(meta["size"]), int(meta["count"]), int(meta["source_count"]),
                    tuple(meta["skipped"]), tuple(meta["wnids"]), tuple(meta["class_names"]), str(meta["name"]))


def pack_images(
    images: ImageList,
    out_dir: Path,
    size: int = 256,
    workers: int = 0,
    on_bad_image: OnBadImage = "fail",
) -> PackInfo:
    """Decode, resize and centre-crop every image of `images` into `out_dir`; workers > 0 decodes in parallel."""
    out_dir = Path(out_dir)
    if (out_dir / PACK_META).exists():
        raise DataError(f"{out_dir} already holds a pack ({PACK_META} exists); delete the folder or choose "
                        "another one to pack again.")
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = JpegDataset(images, size=size, on_bad_image=on_bad_image)
    n, row_bytes = len(dataset), size * size * 3
    skipped = SkipLog()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{PACK_IMAGES}.", suffix=".part", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        labels = np.empty(n, dtype=np.int64)
        count = 0
        if n:
            rows = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(n, size, size, 3))
            for x, y in batches(dataset, range(n), DECODE_BATCH, workers=workers, skipped=skipped):
                b = len(y)
                rows[count : count + b] = x.permute(0, 2, 3, 1).numpy()  # CHW back to the stored HWC
                labels[count : count + b] = y.numpy()
                count += b
            rows.flush()
            del rows
        # Skipped images leave unused rows at the end; cut them off.
        os.truncate(tmp, count * row_bytes)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        write_atomic(out_dir / PACK_LABELS, lambda f: np.save(f, labels[:count]))
        os.replace(tmp, out_dir / PACK_IMAGES)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {
        "format": PACK_FORMAT,
        "version": PACK_VERSION,
        "status": "complete",
        "layout": "images.u8: uint8 [count, size, size, 3] HWC, C order",
        "name": images.name,
        "size": size,
        "count": count,
        "source_count": n,
        "skipped": skipped.paths,
        "wnids": list(images.class_map.wnids),
        "class_names": list(images.class_map.names),
    }
    write_json_atomic(out_dir / PACK_META, meta)  # last: marks the pack complete
    return read_pack_info(out_dir)

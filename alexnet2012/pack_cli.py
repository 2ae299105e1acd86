"""The `alexnet2012-pack` command: pre-resize ILSVRC-2012 into the packed format.

    alexnet2012-pack --root /data --workers 16            # train and val at 256
    alexnet2012 data.packed=true                          # then train from the packs

The packs go where `data.packed=true` reads them: <root>/imagenet/packed/<split>_<size>/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro.argtypes import count
from repro.data.errors import DataError
from repro.data.imagenet import IMAGENET_DIR, scan_imagenet
from repro.data.root import resolve_data_root
from repro.startup import quiet_broken_pipe

from .data import PACKED_DIR
from .pack import pack_images


def packed_path(root: Path, split: str, size: int) -> Path:
    return Path(root) / IMAGENET_DIR / PACKED_DIR / f"{split}_{size}"


@quiet_broken_pipe  # `alexnet2012-pack --help | head -1`: no traceback
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alexnet2012-pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="data root (default: $REPRO_DATA_ROOT, else ./data)")
    parser.add_argument("--split", choices=["train", "val", "both"], default="both")
    parser.add_argument("--size", type=count(), default=256, help="shorter side and crop (paper: 256)")
    parser.add_argument("--workers", type=count(0), default=0, help="decoding processes")
    parser.add_argument("--on-bad-image", choices=["fail", "skip"], default="fail")
    parser.add_argument("--expected-classes", type=count(0), default=1000)
    args = parser.parse_args(argv)
    root = resolve_data_root(args.root)
    try:
        for split in ("train", "val") if args.split == "both" else (args.split,):
            images = scan_imagenet(root, split, args.expected_classes or None)
            out = packed_path(root, split, args.size)
            info = pack_images(images, out, size=args.size, workers=args.workers, on_bad_image=args.on_bad_image)
            print(f"{split}: packed {info.count} of {info.source_count} images into {out}"
                  + (f" ({len(info.skipped)} unreadable, listed in meta.json)" if info.skipped else ""))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ILSVRC-2012 file lists: which image files make up a split, and their labels.

Layout under `<data root>/imagenet/`:

    train/<wnid>/*.JPEG                  one folder per synset
    val/<wnid>/*.JPEG                    after the usual valprep script, or
    val/*.JPEG + LOC_val_solution.csv    flat (Kaggle), the csv beside val/

plus an optional class map file (see `class_map.py`). Only names are read
here; decoding happens in the datasets. Orders are deterministic: train is
sorted by (label, file name) like torchvision's ImageFolder; val is sorted by
file name in both layouts, so the two layouts give the same list.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .access import data_file_present, os_errors_as_data_errors
from .class_map import ClassMap, read_class_map
from .errors import DataError
from .root import describe_root

IMAGENET_DIR = "imagenet"
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")  # compared lower-case
VAL_SOLUTION = "LOC_val_solution.csv"

LAYOUT_HELP = (
    "ILSVRC-2012 cannot be downloaded automatically: register at https://image-net.org (or accept the "
    "competition rules on Kaggle, 'imagenet-object-localization-challenge'), download the training and "
    "validation images, and arrange them as\n"
    "    <data root>/imagenet/train/<wnid>/*.JPEG\n"
    "    <data root>/imagenet/val/<wnid>/*.JPEG   (or flat val/*.JPEG with LOC_val_solution.csv beside val/)\n"
    "    <data root>/imagenet/LOC_synset_mapping.txt   (optional; else the sorted train/ folder names)"
)


@dataclass(frozen=True, eq=False)
class ImageList:
    """Image files of one split and their labels, in a fixed order."""

    paths: tuple[Path, ...]
    labels: np.ndarray  # int64 [N], label = index into class_map
    class_map: ClassMap
    name: str

    def __len__(self) -> int:
        return len(self.paths)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _list_images(folder: Path) -> list[str]:
    """Sorted image file names in `folder`; DataError on anything else (hidden files ignored)."""
    images, other = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            (images if entry.is_file() and is_image_name(entry.name) else other).append(entry.name)
    if other:
        shown = ", ".join(sorted(other)[:5])
        raise DataError(
            f"{folder} holds {len(other)} entries that are not images ({shown}); expected only files "
            f"ending in {', '.join(IMAGE_EXTENSIONS)} (any case). Move them out."
        )
    return sorted(images)


def _class_images(folder: Path) -> list[str]:
    names = _list_images(folder)
    if not names:
        raise DataError(f"empty class folder {folder}: no {'/'.join(IMAGE_EXTENSIONS)} images in it; "
                        "re-extract that synset's tar file.")
    return names


def _scan_train(split_dir: Path, class_map: ClassMap) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for label, wnid in enumerate(class_map.wnids):
        folder = split_dir / wnid
        for name in _class_images(folder):
            paths.append(folder / name)
            labels.append(label)
    return paths, labels


def _scan_val_folders(split_dir: Path, class_map: ClassMap) -> list[tuple[str, int, Path]]:
    rows = []
    for wnid in sorted(entry for entry in os.listdir(split_dir) if not entry.startswith(".")):
        if wnid not in class_map.label_of:
            raise DataError(f"val folder {split_dir / wnid}: synset {wnid} is not in {class_map.source}")
        folder = split_dir / wnid
        rows += [(name, class_map.label_of[wnid], folder / name) for name in _class_images(folder)]
    return rows


def read_val_solution(csv_path: Path, class_map: ClassMap) -> dict[str, int]:
    """ImageId -> label from Kaggle's LOC_val_solution.csv (first token of PredictionString is the wnid)."""
    labels: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise DataError(f"{csv_path}: expected the header 'ImageId,PredictionString', got {header}")
        for number, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            tokens = row[1].split() if len(row) > 1 else []
            if not tokens:
                raise DataError(f"{csv_path}, line {number}: no PredictionString for {row[0]!r}")
            wnid = tokens[0]
            if wnid not in class_map.label_of:
                raise DataError(f"{csv_path}, line {number}: unknown wnid {wnid} for {row[0]} "
                                f"(not in {class_map.source})")
            labels[row[0].strip()] = class_map.label_of[wnid]
    return labels


def _scan_val_flat(split_dir: Path, names: list[str], class_map: ClassMap) -> list[tuple[str, int, Path]]:
    csv_path = split_dir.parent / VAL_SOLUTION
    if not data_file_present(csv_path, "Kaggle val solution file"):
        raise DataError(
            f"{split_dir} holds images directly (flat layout) but {csv_path} is missing; put Kaggle's "
            f"{VAL_SOLUTION} beside val/, or sort val/ into val/<wnid>/ folders (the valprep script)."
        )
    solution = read_val_solution(csv_path, class_map)
    rows, unlabelled = [], []
    for name in names:
        label = solution.pop(Path(name).stem, None)
        if label is None:
            unlabelled.append(name)
        else:
            rows.append((name, label, split_dir / name))
    if unlabelled:
        raise DataError(f"{len(unlabelled)} val image(s) have no row in {csv_path}, e.g. {split_dir / unlabelled[0]}")
    if solution:
        raise DataError(f"{csv_path} lists {len(solution)} image(s) missing from {split_dir}, "
                        f"e.g. {sorted(solution)[0]}; the val folder is incomplete.")
    return rows


def _scan_val(split_dir: Path, class_map: ClassMap) -> tuple[list[Path], list[int]]:
    entries = [e for e in os.listdir(split_dir) if not e.startswith(".")]
    folders = [e for e in entries if (split_dir / e).is_dir()]
    files = sorted(e for e in entries if e not in folders)
    if folders and files:
        raise DataError(f"{split_dir} mixes synset folders and loose files (e.g. {files[0]}); use one val layout.")
    if folders:
        rows = _scan_val_folders(split_dir, class_map)
    else:
        bad = [f for f in files if not is_image_name(f)]
        if bad:
            raise DataError(f"{split_dir / bad[0]} is not an image; the flat val layout holds only images.")
        if not files:
            raise DataError(f"{split_dir} is empty: no val images.")
        rows = _scan_val_flat(split_dir, files, class_map)
    rows.sort(key=lambda row: (row[0], row[1]))  # by file name: identical across the two layouts
    return [row[2] for row in rows], [row[1] for row in rows]


@os_errors_as_data_errors
def scan_imagenet(
    root: Path, split: Literal["train", "val"], expected_classes: int | None = 1000
) -> ImageList:
    """The image files and labels of one ILSVRC-2012 split under `<root>/imagenet/`."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    imagenet_dir = Path(root) / IMAGENET_DIR
    split_dir = imagenet_dir / split
    for folder in (imagenet_dir, split_dir):
        if os.path.lexists(folder) and not folder.is_dir():
            raise DataError(f"{folder} is not a directory; ILSVRC-2012 {split} images go in the folder "
                            f"{split_dir}.\n  data root: {describe_root(Path(root))}\n  {LAYOUT_HELP}")
    if not split_dir.is_dir():
        what = imagenet_dir if not imagenet_dir.is_dir() else split_dir
        raise DataError(
            f"ILSVRC-2012 {split} images not found: {what} does not exist.\n"
            f"  data root: {describe_root(Path(root))}\n  {LAYOUT_HELP}"
        )
    class_map = read_class_map(imagenet_dir, expected_classes)
    if split == "train":
        paths, labels = _scan_train(split_dir, class_map)
    else:
        paths, labels = _scan_val(split_dir, class_map)
    label_array = np.asarray(labels, dtype=np.int64)
    label_array.setflags(write=False)  # the list is frozen; so are its labels
    return ImageList(tuple(paths), label_array, class_map, name=f"imagenet-{split}")

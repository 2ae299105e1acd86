"""The ILSVRC-2012 synset map: which WordNet id is which class label.

Label = position in the map. The map comes from the first source present in
the imagenet folder:

1. `LOC_synset_mapping.txt` (Kaggle layout): "n01440764 tench, Tinca tinca";
2. `synsets.txt`: one wnid per line, optionally followed by a name;
3. else the synset folder names under `train/`, sorted: torchvision's
   ImageFolder order, which equals the sorted-wnid order of both files above.

The map and the `train/` folders must agree exactly: a synset without a folder
or a folder outside the map would silently shift or drop labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .access import data_file_present
from .errors import DataError

MAP_FILES = ("LOC_synset_mapping.txt", "synsets.txt")


@dataclass(frozen=True)
class ClassMap:
    """Synset ids and human names; the label of `wnids[i]` is `i`."""

    wnids: tuple[str, ...]
    names: tuple[str, ...]
    source: str = field(default="", compare=False)  # where the map was read, for messages

    def __post_init__(self) -> None:
        if len(self.wnids) != len(self.names):
            raise ValueError(f"ClassMap: {len(self.wnids)} wnids but {len(self.names)} names")

    def __len__(self) -> int:
        return len(self.wnids)

    @cached_property
    def label_of(self) -> dict[str, int]:
        return {wnid: label for label, wnid in enumerate(self.wnids)}


def _parse_map_file(path: Path) -> ClassMap:
    wnids, names = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.strip().split(maxsplit=1)
        if not parts:
            continue  # blank lines carry no class
        wnids.append(parts[0])
        names.append(parts[1].strip() if len(parts) > 1 else parts[0])
    if not wnids:
        raise DataError(f"{path}: no synsets in the file (expected lines like 'n01440764 tench, Tinca tinca')")
    seen: dict[str, int] = {}
    for index, wnid in enumerate(wnids):
        if wnid in seen:
            raise DataError(f"{path}: synset {wnid} is listed twice (entries {seen[wnid] + 1} and {index + 1})")
        seen[wnid] = index
    return ClassMap(tuple(wnids), tuple(names), source=str(path))


def train_class_folders(train_dir: Path) -> list[str]:
    """Sorted synset folder names under train/ (hidden entries ignored)."""
    folders, loose = [], []
    with os.scandir(train_dir) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            (folders if entry.is_dir() else loose).append(entry.name)
    if loose:
        shown = ", ".join(sorted(loose)[:5])
        raise DataError(
            f"{train_dir} holds {len(loose)} loose file(s) ({shown}); expected only one folder per synset, "
            "train/<wnid>/*.JPEG. Extract the per-class tar files into their own folders and move anything else out."
        )
    return sorted(folders)


def read_class_map(imagenet_dir: Path, expected_classes: int | None) -> ClassMap:
    """The class map of `imagenet_dir`, checked against its train/ folders and the expected class count."""
    imagenet_dir = Path(imagenet_dir)
    train_dir = imagenet_dir / "train"
    folders = train_class_folders(train_dir) if train_dir.is_dir() else None

    map_file = next((imagenet_dir / name for name in MAP_FILES
                     if data_file_present(imagenet_dir / name, "class map file")), None)
    if map_file is not None:
        class_map = _parse_map_file(map_file)
    elif folders is not None:
        class_map = ClassMap(tuple(folders), tuple(folders), source=f"the synset folders under {train_dir}")
    else:
        raise DataError(
            f"no class map for {imagenet_dir}: found neither {' nor '.join(MAP_FILES)} nor a train/ folder there. "
            "Put LOC_synset_mapping.txt (from the Kaggle ILSVRC download) or the train/<wnid>/ folders there."
        )

    if expected_classes is not None and len(class_map) != expected_classes:
        raise DataError(
            f"{len(class_map)} classes in {class_map.source}, but {expected_classes} expected "
            "(ILSVRC-2012 has 1000); the class map or the train/ folders are incomplete, or pass the "
            "matching expected class count for a subset."
        )
    if folders is not None:
        present = set(folders)
        missing = [wnid for wnid in class_map.wnids if wnid not in present]
        if missing:
            raise DataError(
                f"missing class folder train/{missing[0]} under {imagenet_dir} ({len(missing)} of the "
                f"{len(class_map)} synsets in {class_map.source} have no folder); extract every per-class "
                "train tar file, or use a class map that lists only the classes present."
            )
        extra = [name for name in folders if name not in class_map.label_of]
        if extra:
            raise DataError(
                f"folder train/{extra[0]} under {imagenet_dir} is not a synset in {class_map.source} "
                f"({len(extra)} such folder(s)); move it out of train/ or add it to the class map."
            )
    return class_map

"""Miniature ILSVRC and CIFAR-10 trees in the real formats, with learnable images.

Class k of either set is drawn in its own colour with a class-dependent stripe,
plus noise, so a small network can learn them.
"""

from __future__ import annotations

import csv
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

SHARED_DATA_ENV = "REPRO_SHARED_DATA"

SYNSETS = (
    ("n01440764", "tench, Tinca tinca"),
    ("n01443537", "goldfish, Carassius auratus"),
    ("n01484850", "great white shark, white shark, man-eater"),
    ("n01491361", "tiger shark, Galeocerdo cuvieri"),
)
# (width, height) of the 6 training images of each class: portrait, landscape, square.
TRAIN_SIZES = ((48, 32), (32, 48), (40, 40), (64, 36), (30, 70), (50, 45))
VAL_PER_CLASS = 2
COLOURS = np.array([[220, 40, 40], [40, 200, 40], [40, 60, 220], [220, 200, 40], [200, 40, 200],
                    [40, 200, 200], [120, 120, 120], [250, 150, 60], [60, 30, 10], [250, 250, 250]])


def toy_image(label: int, width: int, height: int, seed: int) -> np.ndarray:
    """uint8 [height, width, 3]: the class colour, a stripe whose place depends on the class, noise."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), dtype=np.float64)
    pixels[:] = COLOURS[label % len(COLOURS)]
    row = (label % 4) * height // 4
    pixels[row : row + max(1, height // 8)] = 255 - COLOURS[label % len(COLOURS)]
    pixels += rng.normal(0, 12, pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def write_jpeg(path: Path, pixels: np.ndarray, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)  # "L" greyscale and "CMYK" JPEGs both occur in ILSVRC
    image.save(path, format="JPEG", quality=95)
    return path


def val_name(index: int) -> str:
    return f"ILSVRC2012_val_{index:08d}.JPEG"


@pytest.fixture
def imagenet_tree(tmp_path) -> Path:
    """A data root with imagenet/: 4 synsets, 6 train and 2 val JPEGs each, LOC_synset_mapping.txt.

    Train image 0 of class 0 is greyscale, image 1 of class 1 is CMYK. Val files
    are numbered so that sorting by name interleaves the classes.
    """
    root = tmp_path / "data"
    imagenet = root / "imagenet"
    imagenet.mkdir(parents=True)
    (imagenet / "LOC_synset_mapping.txt").write_text("".join(f"{w} {n}\n" for w, n in SYNSETS))
    for label, (wnid, _) in enumerate(SYNSETS):
        for i, (w, h) in enumerate(TRAIN_SIZES):
            mode = "L" if (label, i) == (0, 0) else "CMYK" if (label, i) == (1, 1) else "RGB"
            write_jpeg(imagenet / "train" / wnid / f"{wnid}_{i + 1}.JPEG", toy_image(label, w, h, 100 * label + i), mode)
        for j in range(VAL_PER_CLASS):
            number = 1 + j * len(SYNSETS) + (len(SYNSETS) - 1 - label)  # reversed within each round
            write_jpeg(imagenet / "val" / wnid / val_name(number), toy_image(label, 40, 36, 1000 + number))
    return root


def flatten_val(root: Path, shuffle_seed: int = 0) -> Path:
    """Turn val/<wnid>/*.JPEG into Kaggle's flat val/*.JPEG plus LOC_val_solution.csv beside val/."""
    val = root / "imagenet" / "val"
    rows = []
    for folder in sorted(p for p in val.iterdir() if p.is_dir()):
        for image in sorted(folder.iterdir()):
            os.replace(image, val / image.name)
            rows.append([image.stem, f"{folder.name} 10 20 30 40 {folder.name} 1 2 3 4"])
        folder.rmdir()
    rows = [rows[i] for i in np.random.default_rng(shuffle_seed).permutation(len(rows))]  # the csv is unsorted
    csv_path = root / "imagenet" / "LOC_val_solution.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageId", "PredictionString"])
        writer.writerows(rows)
    return csv_path


@pytest.fixture
def imagenet_files():
    """The writers above, for tests that build their own (broken) trees."""
    return SimpleNamespace(synsets=SYNSETS, train_sizes=TRAIN_SIZES, toy_image=toy_image, write_jpeg=write_jpeg,
                           flatten_val=flatten_val, val_name=val_name)


CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_TRAIN_PER_BATCH, CIFAR_TEST = 20, 30


def toy_cifar(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """n images in CIFAR's row format, uint8 [n, 3072] (R, G, B planes, each row-major), labels i % 10."""
    labels = [i % 10 for i in range(n)]
    hwc = np.stack([toy_image(k, 32, 32, seed * 10_000 + i) for i, k in enumerate(labels)])
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2).reshape(n, 3072)), labels


def write_cifar(root: Path) -> Path:
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    files = {f"data_batch_{b}": (CIFAR_TRAIN_PER_BATCH, b) for b in range(1, 6)} | {"test_batch": (CIFAR_TEST, 0)}
    for name, (n, seed) in files.items():
        data, labels = toy_cifar(n, seed)
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"num_cases_per_batch": CIFAR_TRAIN_PER_BATCH, b"label_names": [n.encode() for n in CIFAR_NAMES],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


@pytest.fixture
def cifar_root(tmp_path) -> Path:
    """A data root with tiny CIFAR-10 pickles: 5 x 20 train, 30 test (md5s differ: load with verify=False)."""
    return write_cifar(tmp_path / "data")


@pytest.fixture
def cifar_files():
    return SimpleNamespace(toy_cifar=toy_cifar, names=CIFAR_NAMES, train_per_batch=CIFAR_TRAIN_PER_BATCH,
                           n_test=CIFAR_TEST)


@pytest.fixture(scope="session")
def shared_cifar_root(shared_data_missing) -> Path:
    """The team's data root with cifar10/ (../shared/data or $REPRO_SHARED_DATA); skip without it (fail in CI)."""
    root = Path(os.environ.get(SHARED_DATA_ENV) or Path(__file__).resolve().parents[3] / "shared" / "data")
    if not (root / "cifar10" / "cifar-10-batches-py" / "data_batch_1").is_file():
        shared_data_missing(f"CIFAR-10 not found under {root}/cifar10 (set ${SHARED_DATA_ENV} to the folder with cifar10/)")
    return root

"""Shared fixtures: small digit files in the real formats, and the team's shared data."""

from __future__ import annotations

import atexit
import gzip
import json
import os
import shutil
import signal
import struct
import tempfile
import threading
from pathlib import Path

# torch.compile's compiled code and headers in a cache of this test session's own, set before torch
# is imported (here and in every child process): the default, /tmp/torchinductor_<user>, is shared
# with every other checkout and run, whose cached headers broke the compile tests (issue 44).
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="repro-tests-inductor-")
atexit.register(shutil.rmtree, os.environ["TORCHINDUCTOR_CACHE_DIR"], True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import repro.app  # noqa: E402,F401  (the `repro.shared_conf` resolver and the `logger` group the app configs use)
from modern_tricks import register_configs  # noqa: E402
from repro.train.record import RunDir, write_metrics  # noqa: E402

# The trick groups (trick, trick2012) are declared in Python; tests compose the
# era configs through Hydra as the apps do, so they register them as the apps do
# (and import repro.app above for its resolver: each test file composes when run alone).
register_configs()

@pytest.fixture(autouse=True)
def default_sigint():
    """Every test runs with Python's own SIGINT handling however pytest was started:
    `nohup python -m pytest &` starts it with SIGINT ignored, which a test's own
    os.kill(SIGINT) would meet, and which every child process a test interrupts would
    inherit across exec (an ignored signal stays ignored; a handled one is reset to the
    default, which Python then turns into KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


SHARED_DATA_ENV = "REPRO_SHARED_DATA"
# Set by CI (.ci/run), or CI=true: a missing shared data folder fails the real-data tests
# instead of skipping them, so CI never passes without having run them.
REQUIRE_SHARED_DATA_ENV = "REPRO_REQUIRE_SHARED_DATA"


def shared_data_required() -> bool:
    def on(name: str) -> bool:
        return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")

    return on(REQUIRE_SHARED_DATA_ENV) or on("CI")


def missing_shared_data(message: str) -> None:
    """Skip locally; fail (with the same message) where the shared data is required."""
    if shared_data_required():
        pytest.fail(f"{message}; ${REQUIRE_SHARED_DATA_ENV} or $CI is set, so the real-data tests must run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data_missing():
    """For tests that need more of the shared data than USPS: skip locally, fail in CI."""
    return missing_shared_data


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    """../shared/data (or $REPRO_SHARED_DATA); integration tests skip without it (fail in CI)."""
    root = Path(os.environ.get(SHARED_DATA_ENV) or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not (root / "usps" / "zip.train.gz").is_file():
        missing_shared_data(f"shared data not found at {root} (set ${SHARED_DATA_ENV} to the folder with usps/ and mnist/)")
    return root


def usps_lines(labels, pixels, label_format="{:.4f}") -> list[str]:
    return [" ".join([label_format.format(y)] + [f"{v:.4f}" for v in row]) for y, row in zip(labels, pixels)]


def write_text(path: Path, lines: list[str], gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def toy_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 16x16 'digits': class k lights a bar whose place depends on k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    pixels = np.full((n, 16, 16), -1.0)
    for i, k in enumerate(labels):
        row, col = 2 + (k % 5) * 3, 3 + (k // 5) * 8
        pixels[i, row : row + 2, col : col + 5] = 1.0
    pixels += rng.uniform(0, 0.3, pixels.shape)
    return labels, np.clip(np.round(pixels, 4), -1, 1).reshape(n, 256)


@pytest.fixture
def usps_root(tmp_path) -> Path:
    """A data root holding small USPS-format files (60 train / 30 test digits)."""
    root = tmp_path / "data"
    for split, n, seed in (("train", 60, 0), ("test", 30, 1)):
        write_text(root / "usps" / f"zip.{split}.gz", usps_lines(*toy_digits(n, seed)))
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    magic = {1: 0x801, 3: 0x803}[array.ndim]
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


@pytest.fixture
def mnist_root(tmp_path) -> Path:
    """A data root holding small MNIST IDX files (50 train / 20 test images)."""
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (root / "mnist" / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return root


@pytest.fixture
def digit_files():
    """The writers above, for tests that make their own (broken) files."""
    from types import SimpleNamespace

    return SimpleNamespace(usps_lines=usps_lines, write_text=write_text, toy_digits=toy_digits, idx_bytes=idx_bytes)


# Report fixtures shared by the generic report tests and the eras' report tests.

def write_lecun1989_record(d, seed, train_err, test_err, test_misses, name="baseline", complete=True):
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"seed: {seed}\n")
    if not complete:
        return
    m = {
        "status": "complete", "era": "lecun1989", "name": name, "data": "usps", "seed": seed, "passes": 23,
        "final": {"train": {"loss": 0.002, "error": train_err, "misses": round(train_err * 72.91)},
                  "test": {"loss": 0.035, "error": test_err, "misses": test_misses}},
        "wall_time_s": 100.0 + seed, "train_time_s": 90.0, "samples_per_s": 1500.0 + seed,
        "environment": {"hardware": "Test CPU (2 cores)", "git": {"commit": "abc1234def5678"}, "torch": "2.14.1"},
    }
    (d / "metrics.json").write_text(json.dumps(m))


@pytest.fixture
def records(tmp_path):
    root = tmp_path / "baseline"  # records directly in a folder: the table is named after it
    write_lecun1989_record(root / "s0", 0, 0.40, 5.00, 100)
    write_lecun1989_record(root / "s1", 1, 0.20, 6.00, 120)
    write_lecun1989_record(root / "s2", 2, 0.30, 5.50, 110)
    write_lecun1989_record(root / "other", 0, 1.0, 9.0, 180, name="something_else")
    write_lecun1989_record(root / "unfinished", 3, 0, 0, 0, complete=False)
    broken = root / "broken"
    write_lecun1989_record(broken, 4, 0.1, 1.0, 20)
    m = json.loads((broken / "metrics.json").read_text())
    del m["final"]["test"]
    (broken / "metrics.json").write_text(json.dumps(m))
    return root


def write_alexnet2012_record(path, seed, final):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("seed: 0\n")
    write_metrics(RunDir(path), {
        "era": "alexnet2012", "name": "alexnet_cifar10", "data": "cifar10", "n_train": 50000, "n_test": 10000,
        "seed": seed, "passes": 15, "world_size": 1, "final": final, "wall_time_s": 600.0, "samples_per_s": 350.0,
        "environment": {"hardware": "test cpu", "git": {"commit": "abcdef0123456789"}},
    })


@pytest.fixture
def alexnet_record():
    """write_alexnet2012_record(path, seed, final): a finished alexnet_cifar10 record."""
    return write_alexnet2012_record

"""What is at a data path: "not found" only when nothing is there. A directory or
a FIFO where a data file should be, and a folder this user may not read, each
get their own DataError (never a traceback, never a download over them)."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from repro.data import DataError, load_digits, load_usps
from repro.data.cifar10 import load_cifar10
from repro.data.imagenet import scan_imagenet


def _usps_file(root: Path) -> Path:
    (root / "usps").mkdir(parents=True, exist_ok=True)
    return root / "usps" / "zip.train.gz"


@pytest.mark.parametrize("download", [False, True])
def test_a_directory_where_the_data_file_should_be(tmp_path, download):
    _usps_file(tmp_path).mkdir()
    with pytest.raises(DataError) as err:
        load_usps(tmp_path, download=download)  # no download is tried over it
    assert str(err.value).startswith(f"{tmp_path / 'usps' / 'zip.train.gz'} is a directory where the data file should be")
    assert "not found" not in str(err.value)


@pytest.mark.parametrize("download", [False, True])
def test_a_fifo_where_the_data_file_should_be(tmp_path, download):
    os.mkfifo(_usps_file(tmp_path))  # reading it would block forever
    with pytest.raises(DataError) as err:
        load_usps(tmp_path, download=download)
    assert str(err.value).startswith(f"{tmp_path / 'usps' / 'zip.train.gz'} is not a regular file but a named pipe (FIFO)")
    assert "not found" not in str(err.value)


def test_a_file_where_the_data_folder_should_be(tmp_path):
    (tmp_path / "usps").write_text("")
    with pytest.raises(DataError, match=rf"cannot exist: {tmp_path / 'usps'} is a file, not a folder"):
        load_digits("usps", tmp_path, download=False)


def test_a_directory_where_a_cifar_batch_should_be(tmp_path):
    batches = tmp_path / "cifar10" / "cifar-10-batches-py"
    (batches / "data_batch_1").mkdir(parents=True)
    with pytest.raises(DataError, match=r"data_batch_1 is a directory where the CIFAR-10 file should be"):
        load_cifar10(tmp_path, download=False)


def test_a_file_where_an_imagenet_folder_should_be(tmp_path):
    (tmp_path / "imagenet").mkdir()
    (tmp_path / "imagenet" / "train").write_text("")
    with pytest.raises(DataError, match=rf"^{tmp_path / 'imagenet' / 'train'} is not a directory; ILSVRC-2012 train"):
        scan_imagenet(tmp_path, "train")


@pytest.fixture
def unreadable(tmp_path, monkeypatch):
    """The folder data/usps (holding the real files) as a user without read
    permission sees it: stat below it and opening its files raise PermissionError.
    Simulated, so that it also holds when the tests run as root."""
    root = tmp_path / "data"
    folder = root / "usps"
    folder.mkdir(parents=True)
    for name in ("zip.train.gz", "zip.test.gz"):
        (folder / name).write_bytes(b"")
    real_stat, real_access, real_open = os.stat, os.access, builtins.open

    def denied(path) -> bool:
        return str(os.fspath(path)).startswith(f"{folder}{os.sep}")

    def stat(path, *args, **kwargs):
        if denied(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    def open_(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and denied(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != folder and real_access(path, mode, **kw))
    monkeypatch.setattr(builtins, "open", open_)
    return root


def test_an_unreadable_data_folder_is_named(unreadable):
    with pytest.raises(DataError) as err:
        load_usps(unreadable, download=False)
    folder = unreadable / "usps"
    assert str(err.value) == (
        f"cannot read {folder / 'zip.train.gz'}: permission denied on the folder {folder}; make it readable by "
        f"this user (e.g. chmod -R u+rX {folder}), or point data.root=... or $REPRO_DATA_ROOT at a copy you can read."
    )


def test_an_unreadable_file_is_named_when_it_is_opened(unreadable, monkeypatch):
    import repro.data.download as download

    monkeypatch.setattr(download, "data_file_present", lambda path, what="data file": True)  # stat said "a file"
    with pytest.raises(DataError, match=r"^cannot read .*zip\.train\.gz: permission denied on the folder"):
        load_usps(unreadable, download=False, verify=False)


def test_an_os_error_inside_a_loader_becomes_a_data_error(tmp_path, monkeypatch):
    (tmp_path / "imagenet" / "train").mkdir(parents=True)

    def scandir(path):
        raise PermissionError(13, "Permission denied", os.fspath(path))

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataError, match=rf"^cannot read {tmp_path / 'imagenet' / 'train'}: permission denied"):
        scan_imagenet(tmp_path, "train")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any folder")
def test_a_really_unreadable_folder(tmp_path):
    folder = _usps_file(tmp_path).parent
    folder.chmod(0)
    try:
        with pytest.raises(DataError, match=rf"permission denied on the folder {folder};"):
            load_usps(tmp_path, download=False)
    finally:
        folder.chmod(0o755)

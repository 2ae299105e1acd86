"""The USPS reader: the ESL text layout, content checks, and every bad-file case."""

import gzip

import numpy as np
import pytest
import torch

from repro.data import DataError, load_digits, load_usps
from repro.data import usps as usps_module
from repro.data.usps import content_sha256, read_usps_file


def test_reads_gzip_and_plain_text_with_either_label_style(tmp_path, digit_files):
    labels, pixels = digit_files.toy_digits(12, 3)
    gz = digit_files.write_text(tmp_path / "a.gz", digit_files.usps_lines(labels, pixels))
    plain = digit_files.write_text(tmp_path / "b.txt", digit_files.usps_lines(labels, pixels, "{:d}"), gz=False)
    for path in (gz, plain):
        y, x = read_usps_file(path)
        assert y.dtype == np.int64 and x.dtype == np.float32
        np.testing.assert_array_equal(y, labels)
        np.testing.assert_allclose(x, pixels, atol=1e-6)


def test_load_usps_shapes_and_row_major_pixels(usps_root):
    d = load_usps(usps_root, download=False, verify=False)
    assert d.x_train.shape == (60, 1, 16, 16) and d.x_test.shape == (30, 1, 16, 16)
    assert d.y_train.dtype == torch.int64 and d.x_train.dtype == torch.float32
    assert d.summary() == "usps: 60 train / 30 test digits"
    # Toy digit 0 lights rows 2-3, columns 3-7: row-major 16x16 layout.
    assert (d.x_train[0, 0, 2:4, 3:8] >= 1.0 - 1e-6).all() and d.x_train[0, 0, 0, 0] < 0


def _last(line, token):
    return line.rsplit(" ", 1)[0] + " " + token


def _broken(tmp_path, digit_files, edit, gz=True):
    lines = digit_files.usps_lines(*digit_files.toy_digits(5, 0))
    lines = edit(lines)
    return digit_files.write_text(tmp_path / "zip.train.gz", lines, gz=gz)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda L: L[:2] + [L[2].rsplit(" ", 1)[0]] + L[3:], r"line 3: 256 columns, expected 257"),
        (lambda L: L[:1] + [L[1] + " 0.5"] + L[2:], r"line 2: 258 columns"),
        (lambda L: L[:3] + ["10.0000" + L[3][6:]] + L[4:], r"line 4: label 10 is not a digit"),
        (lambda L: L[:3] + ["3.5000" + L[3][6:]] + L[4:], r"line 4: label 3.5 is not a digit"),
        (lambda L: L[:1] + ["-1.0000" + L[1][6:]] + L[2:], r"line 2: label -1 is not a digit"),
        (lambda L: L[:4] + [_last(L[4], "nan")], r"line 5: NaN"),
        (lambda L: L[:2] + [_last(L[2], "-1.5000")] + L[3:], r"line 3: pixel value outside \[-1, 1\]"),
        (lambda L: L[:1] + [_last(L[1], "x")] + L[2:], r"line 2: not a number"),
        (lambda L: L[:2] + [""] + L[2:], r"line 3: 0 columns"),
        (lambda L: [], r"no digits"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, digit_files, edit, message):
    path = _broken(tmp_path, digit_files, edit)
    with pytest.raises(DataError, match=message) as info:
        read_usps_file(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_is_refused(tmp_path, digit_files):
    path = _broken(tmp_path, digit_files, lambda L: L)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        read_usps_file(path)


def test_plain_file_cut_mid_line_is_refused(tmp_path, digit_files):
    path = _broken(tmp_path, digit_files, lambda L: L, gz=False)
    path.write_bytes(path.read_bytes()[:-700])
    with pytest.raises(DataError, match=r"line 5: \d+ columns"):
        read_usps_file(path)


@pytest.fixture
def small_canonical(usps_root, monkeypatch):
    """Pretend the 60/30-digit files are the canonical ones (their counts and content sums)."""
    table = {}
    for split, (name, _, _) in usps_module.CANONICAL.items():
        y, x = read_usps_file(usps_root / "usps" / name)
        table[split] = (name, len(y), content_sha256(y, x))
    monkeypatch.setattr(usps_module, "CANONICAL", table)
    return table


def test_verify_accepts_canonical_content_in_other_bytes(usps_root, small_canonical, digit_files):
    load_usps(usps_root, download=False, verify=True)
    # Same values written differently (integer labels, no gzip) still pass: content, not bytes.
    path = usps_root / "usps" / "zip.test.gz"
    y, x = read_usps_file(path)
    digit_files.write_text(path, digit_files.usps_lines(y, x, "{:d}"), gz=False)
    load_usps(usps_root, download=False, verify=True)


def test_verify_refuses_changed_values_and_missing_digits(usps_root, small_canonical, digit_files):
    path = usps_root / "usps" / "zip.train.gz"
    y, x = read_usps_file(path)
    x2 = x.copy()
    x2[7, 100] = 0.1234
    digit_files.write_text(path, digit_files.usps_lines(y, x2))
    with pytest.raises(DataError, match="content sha256 .* differs"):
        load_usps(usps_root, download=False, verify=True)
    digit_files.write_text(path, digit_files.usps_lines(y[:-1], x[:-1]))
    with pytest.raises(DataError, match="59 digits, the canonical file has 60"):
        load_usps(usps_root, download=False, verify=True)
    # verify=false is the explicit way to use a non-canonical file.
    assert len(load_usps(usps_root, download=False, verify=False).y_train) == 59


def test_missing_file_message_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_DATA_ROOT", str(tmp_path))
    with pytest.raises(DataError) as info:
        load_digits("usps", tmp_path, download=False)
    text = str(info.value)
    assert str(tmp_path / "usps" / "zip.train.gz") in text
    assert "REPRO_DATA_ROOT" in text and "data.root" in text and "data.download=true" in text
    assert "https://hastie.su.domains/ElemStatLearn/datasets/zip.train.gz" in text


def test_download_verifies_then_moves_into_place(tmp_path, usps_root, small_canonical, monkeypatch):
    monkeypatch.setattr(usps_module, "_BASES", ((usps_root / "usps").as_uri(),))
    fresh = tmp_path / "fresh"
    d = load_usps(fresh, download=True, verify=True)
    assert len(d.y_train) == 60
    assert (fresh / "usps" / "zip.train.gz").read_bytes() == (usps_root / "usps" / "zip.train.gz").read_bytes()


def test_failed_download_leaves_nothing_behind(tmp_path, usps_root, small_canonical, monkeypatch, digit_files):
    source = tmp_path / "mirror"
    y, x = read_usps_file(usps_root / "usps" / "zip.train.gz")
    digit_files.write_text(source / "zip.train.gz", digit_files.usps_lines(y, x)[:-3])  # a cut-short copy
    monkeypatch.setattr(usps_module, "_BASES", (source.as_uri(), (tmp_path / "nowhere").as_uri()))
    fresh = tmp_path / "fresh"
    with pytest.raises(DataError, match="every download failed") as info:
        load_usps(fresh, download=True)
    assert "57 digits, the canonical file has 60" in str(info.value)
    # Nothing is created until a download succeeds (issue 37, item 12): not even the folders.
    assert not fresh.exists()
    # data.download was already true: the advice is what applies now, not to turn it on.
    text = str(info.value)
    assert "data.download=true" not in text
    assert ("fix: put the file there, point data.root=... or $REPRO_DATA_ROOT at a folder that has usps/zip.train.gz, "
            "or retry once the URLs above can be reached (behind a proxy: set $https_proxy)") in text


def test_a_failed_download_into_an_existing_root_keeps_the_root_and_removes_only_what_it_made(
        tmp_path, monkeypatch):
    monkeypatch.setattr(usps_module, "_BASES", ((tmp_path / "nowhere").as_uri(),))
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    with pytest.raises(DataError, match="every download failed"):
        load_usps(root, download=True)
    assert sorted(p.name for p in root.iterdir()) == ["mnist"]


def test_gzip_roundtrip_of_fixture_is_real_gzip(usps_root):
    raw = (usps_root / "usps" / "zip.train.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and len(gzip.decompress(raw).splitlines()) == 60

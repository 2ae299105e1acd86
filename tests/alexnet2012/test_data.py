"""AlexNet data: ILSVRC file lists and class map, CIFAR-10 reader, datasets, loader, packed format."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet2012.datasets import ArrayDataset, JpegDataset, PackedDataset, resize_center_crop
from alexnet2012.loader import SkipLog, batches
from alexnet2012.pack import pack_images
from repro.data.cifar10 import URL, load_cifar10
from repro.data.class_map import read_class_map
from repro.data.errors import DataError
from repro.data.imagenet import scan_imagenet

WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")


# ---- class map -----------------------------------------------------------------------------------------------


def test_class_map_from_loc_synset_mapping(imagenet_tree):
    cm = read_class_map(imagenet_tree / "imagenet", expected_classes=4)
    assert cm.wnids == WNIDS
    assert cm.names[0] == "tench, Tinca tinca" and cm.names[3] == "tiger shark, Galeocerdo cuvieri"
    assert cm.label_of["n01484850"] == 2 and len(cm) == 4


def test_class_map_from_synsets_txt(imagenet_tree):
    imagenet = imagenet_tree / "imagenet"
    (imagenet / "LOC_synset_mapping.txt").unlink()
    (imagenet / "synsets.txt").write_text("n01440764\nn01443537 goldfish\n\nn01484850\nn01491361\n")
    cm = read_class_map(imagenet, expected_classes=4)
    assert cm.wnids == WNIDS
    assert cm.names == ("n01440764", "goldfish", "n01484850", "n01491361")


def test_class_map_from_sorted_train_folders(imagenet_tree):
    imagenet = imagenet_tree / "imagenet"
    (imagenet / "LOC_synset_mapping.txt").unlink()
    cm = read_class_map(imagenet, expected_classes=None)
    assert cm.wnids == WNIDS and cm.names == WNIDS
    assert "train" in cm.source


def test_class_count_mismatch_names_both_numbers(imagenet_tree):
    with pytest.raises(DataError, match=r"4 classes in .*LOC_synset_mapping.txt, but 1000 expected"):
        read_class_map(imagenet_tree / "imagenet", expected_classes=1000)


def test_missing_class_folder(imagenet_tree):
    shutil.rmtree(imagenet_tree / "imagenet" / "train" / "n01443537")
    with pytest.raises(DataError, match="missing class folder train/n01443537"):
        read_class_map(imagenet_tree / "imagenet", expected_classes=4)


def test_extra_class_folder(imagenet_tree):
    (imagenet_tree / "imagenet" / "train" / "n09999999").mkdir()
    with pytest.raises(DataError, match="train/n09999999 .* is not a synset"):
        read_class_map(imagenet_tree / "imagenet", expected_classes=4)


# ---- ILSVRC file lists ---------------------------------------------------------------------------------------


def test_scan_train_is_sorted_by_class_then_name(imagenet_tree):
    train = scan_imagenet(imagenet_tree, "train", expected_classes=4)
    assert len(train) == 24 and train.name == "imagenet-train"
    assert train.labels.dtype == np.int64 and train.labels.tolist() == [k for k in range(4) for _ in range(6)]
    assert [p.name for p in train.paths[:2]] == ["n01440764_1.JPEG", "n01440764_2.JPEG"]
    assert all(p.parent.name == WNIDS[k] for p, k in zip(train.paths, train.labels))


def test_val_layouts_give_the_same_list(imagenet_tree, imagenet_files):
    folders = scan_imagenet(imagenet_tree, "val", expected_classes=4)
    imagenet_files.flatten_val(imagenet_tree)
    flat = scan_imagenet(imagenet_tree, "val", expected_classes=4)
    assert [p.name for p in folders.paths] == [p.name for p in flat.paths] == [imagenet_files.val_name(i) for i in range(1, 9)]
    # val files are numbered so the classes interleave: 1 -> class 3, 2 -> class 2, ...
    assert folders.labels.tolist() == flat.labels.tolist() == [3, 2, 1, 0, 3, 2, 1, 0]
    assert all(p.parent.name == "val" for p in flat.paths)


def test_val_csv_with_unknown_wnid(imagenet_tree, imagenet_files):
    csv_path = imagenet_files.flatten_val(imagenet_tree)
    lines = csv_path.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ",n07777777 1 2 3 4"
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"LOC_val_solution.csv, line 4: unknown wnid n07777777"):
        scan_imagenet(imagenet_tree, "val", expected_classes=4)


def test_missing_imagenet_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        scan_imagenet(tmp_path, "train")
    message = str(err.value)
    assert str(tmp_path / "imagenet") in message and "image-net.org" in message
    assert "train/<wnid>/*.JPEG" in message and "LOC_val_solution.csv" in message


def test_empty_class_folder(imagenet_tree):
    for image in (imagenet_tree / "imagenet" / "train" / "n01484850").iterdir():
        image.unlink()
    with pytest.raises(DataError, match="empty class folder .*n01484850"):
        scan_imagenet(imagenet_tree, "train", expected_classes=4)


def test_image_extensions_are_case_insensitive(imagenet_tree):
    folder = imagenet_tree / "imagenet" / "train" / "n01440764"
    (folder / "n01440764_1.JPEG").rename(folder / "a.jpg")
    (folder / "n01440764_2.JPEG").rename(folder / "b.Jpeg")
    Image.new("RGB", (8, 8)).save(folder / "c.PNG")
    train = scan_imagenet(imagenet_tree, "train", expected_classes=4)
    assert [p.name for p in train.paths[:3]] == ["a.jpg", "b.Jpeg", "c.PNG"] and len(train) == 25


# ---- decoding ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("portrait", [False, True])
def test_resize_center_crop_geometry(portrait):
    # 300 x 200: bands red | green | blue at columns 0-49 | 50-249 | 250-299. Scaling the short side
    # 200 -> 256 makes 384 x 256; the central 256 columns are exactly the resized green band (64..319).
    bands = np.zeros((200, 300, 3), dtype=np.uint8)
    bands[:, :50, 0] = bands[:, 50:250, 1] = bands[:, 250:, 2] = 255
    out = resize_center_crop(Image.fromarray(bands.transpose(1, 0, 2).copy() if portrait else bands), 256)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    if portrait:
        out = out.transpose(1, 0, 2)
    assert (out[:, 2:-2] == [0, 255, 0]).all()
    # The edge columns mix in 0.11 of the neighbouring band, equally on both sides: the crop is central.
    left, right = out[:, 0], out[:, -1]
    assert 0 < left[0, 0] < 60 and left[0, 0] == right[0, 2] and (left[:, 0] == left[0, 0]).all()
    assert left[0, 2] == right[0, 0] == 0


def test_resize_center_crop_sizes():
    assert resize_center_crop(Image.new("RGB", (500, 375), (10, 20, 30)), 256).shape == (256, 256, 3)
    same = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)
    np.testing.assert_array_equal(resize_center_crop(Image.fromarray(same), 64), same)  # already S x S: untouched


def test_greyscale_and_cmyk_become_rgb(imagenet_tree):
    ds = JpegDataset(scan_imagenet(imagenet_tree, "train", expected_classes=4), size=32)
    grey, label = ds[0]  # class 0, image 1 is a greyscale JPEG
    assert grey.shape == (3, 32, 32) and grey.dtype == torch.uint8 and label == 0
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    cmyk, label = ds[7]  # class 1 (green), image 2 is CMYK
    assert cmyk.shape == (3, 32, 32) and label == 1
    assert cmyk[1].float().mean() > 150 > cmyk[0].float().mean()
    assert ds.labels.tolist()[:8] == [0] * 6 + [1] * 2 and ds.num_classes == 4 and ds.class_names[1].startswith("goldfish")


def _corrupt(path, kind):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3] if kind == "truncated" else b"not an image at all")


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_bad_image_fails_with_its_name(imagenet_tree, kind):
    train = scan_imagenet(imagenet_tree, "train", expected_classes=4)
    _corrupt(train.paths[2], kind)
    with pytest.raises(DataError, match=rf"{train.paths[2].name}: cannot decode image.*on_bad_image='skip'"):
        JpegDataset(train, size=32)[2]


def test_bad_image_skipped_makes_the_batch_smaller(imagenet_tree):
    train = scan_imagenet(imagenet_tree, "train", expected_classes=4)
    _corrupt(train.paths[2], "truncated")
    ds = JpegDataset(train, size=32, on_bad_image="skip")
    log = SkipLog()
    got = list(batches(ds, range(8), 4, skipped=log))
    assert [len(y) for _, y in got] == [3, 4]
    assert log.count == 1 and log.paths == [str(train.paths[2])]
    assert torch.equal(got[0][0][2], ds[3][0])  # the rest of the batch moved up, in order
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image.*n01440764_3.JPEG"):
        list(batches(ds, [2, 3], 4))


# ---- loader --------------------------------------------------------------------------------------------------


def test_loader_yields_the_requested_order(imagenet_tree):
    ds = JpegDataset(scan_imagenet(imagenet_tree, "train", expected_classes=4), size=32)
    order = torch.randperm(24, generator=torch.Generator().manual_seed(5))[:19]
    serial = list(batches(ds, order, 5))
    assert [len(y) for _, y in serial] == [5, 5, 5, 4]
    x = torch.cat([b for b, _ in serial])
    y = torch.cat([b for _, b in serial])
    assert x.dtype == torch.uint8 and x.shape == (19, 3, 32, 32) and y.dtype == torch.int64
    assert y.tolist() == ds.labels[order.numpy()].tolist()
    for row, i in enumerate(order.tolist()):
        assert torch.equal(x[row], ds[i][0])
    parallel = list(batches(ds, order.tolist(), 5, workers=2, prefetch=1))
    assert len(parallel) == len(serial)
    for (xs, ys), (xp, yp) in zip(serial, parallel):
        assert torch.equal(xs, xp) and torch.equal(ys, yp)


def test_array_dataset_gathers_whole_batches_equal_to_its_items():
    # ArrayDataset.__getitems__: one gather per batch in place of per-image items and their stack;
    # the same bytes and labels, in the requested order, serial and in a worker.
    rng = np.random.default_rng(3)
    ds = ArrayDataset(rng.integers(0, 256, (11, 6, 7, 3), dtype=np.uint8), np.arange(11) % 4)
    order = [9, 2, 2, 7, 0, 10, 5]
    for workers in (0, 1):
        got = list(batches(ds, order, 3, workers=workers))
        assert [len(y) for _, y in got] == [3, 3, 1]
        x, y = torch.cat([b for b, _ in got]), torch.cat([b for _, b in got])
        assert x.dtype == torch.uint8 and x.shape == (7, 3, 6, 7) and x.is_contiguous()
        assert torch.equal(x, torch.stack([ds[i][0] for i in order]))
        assert y.dtype == torch.int64 and y.tolist() == [i % 4 for i in order]
        assert torch.equal(x[0], torch.from_numpy(ds.x[9]).permute(2, 0, 1))  # HWC -> CHW, not just any order


def test_loader_rejects_out_of_range_indices(imagenet_tree):
    ds = JpegDataset(scan_imagenet(imagenet_tree, "train", expected_classes=4), size=32)
    with pytest.raises(IndexError, match="index 24 is outside the dataset of 24"):
        batches(ds, [0, 24], 2)


# ---- packed format -------------------------------------------------------------------------------------------


def test_pack_equals_jpeg_dataset_byte_for_byte(imagenet_tree, tmp_path):
    train = scan_imagenet(imagenet_tree, "train", expected_classes=4)
    info = pack_images(train, tmp_path / "packed", size=32, workers=2)
    assert (info.count, info.source_count, info.size, info.skipped) == (24, 24, 32, ())
    assert (tmp_path / "packed" / "images.u8").stat().st_size == 24 * 32 * 32 * 3
    packed, jpeg = PackedDataset(tmp_path / "packed"), JpegDataset(train, size=32)
    assert len(packed) == 24 and packed.labels.tolist() == jpeg.labels.tolist() and packed.num_classes == 4
    assert packed.class_names == jpeg.class_names and packed.wnids == WNIDS
    for i in range(24):
        assert torch.equal(packed[i][0], jpeg[i][0]) and packed[i][1] == jpeg[i][1]
    # Workers map the file themselves.
    (x, y), = batches(packed, range(24), 24, workers=2)
    assert torch.equal(x[23], jpeg[23][0]) and y.tolist() == jpeg.labels.tolist()


def test_pack_skips_and_records_bad_images(imagenet_tree, tmp_path):
    train = scan_imagenet(imagenet_tree, "train", expected_classes=4)
    _corrupt(train.paths[10], "garbage")
    info = pack_images(train, tmp_path / "packed", size=16, on_bad_image="skip")
    assert (info.count, info.source_count, info.skipped) == (23, 24, (str(train.paths[10]),))
    packed = PackedDataset(tmp_path / "packed")
    assert len(packed) == 23 and packed.labels.tolist() == np.delete(train.labels, 10).tolist()
    assert torch.equal(packed[10][0], JpegDataset(train, size=16)[11][0])
    meta = json.loads((tmp_path / "packed" / "meta.json").read_text())
    assert meta["skipped"] == [str(train.paths[10])] and meta["count"] == 23 and meta["version"] == 1


def test_incomplete_or_existing_pack_is_refused(imagenet_tree, tmp_path):
    train = scan_imagenet(imagenet_tree, "val", expected_classes=4)
    out = tmp_path / "packed"
    pack_images(train, out, size=16)
    with pytest.raises(DataError, match="already holds a pack"):
        pack_images(train, out, size=16)
    (out / "meta.json").unlink()  # what an interrupted pack leaves
    with pytest.raises(DataError, match=r"not a complete packed image folder: meta.json is missing"):
        PackedDataset(out)
    pack_images(train, out, size=16)  # an unfinished folder is simply packed again
    assert len(PackedDataset(out)) == 8


# ---- CIFAR-10 ------------------------------------------------------------------------------------------------


def test_cifar_reader_layout(cifar_root, cifar_files):
    d = load_cifar10(cifar_root, download=False, verify=False)
    assert d.x_train.shape == (100, 32, 32, 3) and d.x_train.dtype == np.uint8
    assert d.x_test.shape == (30, 32, 32, 3) and d.y_test.dtype == np.int64
    assert d.class_names == cifar_files.names and d.summary() == "cifar10: 100 train / 30 test images"
    rows, labels = cifar_files.toy_cifar(20, 2)  # data_batch_2 -> train images 20..39
    assert d.y_train[20:40].tolist() == labels
    # HWC: pixel (row 5, column 7, channel c) is byte c*1024 + 5*32 + 7 of the CHW row.
    for c in range(3):
        assert d.x_train[23, 5, 7, c] == rows[3, c * 1024 + 5 * 32 + 7]
    np.testing.assert_array_equal(d.x_test[4], cifar_files.toy_cifar(30, 0)[0][4].reshape(3, 32, 32).transpose(1, 2, 0))
    ds = ArrayDataset(d.x_train, d.y_train, d.class_names)
    x, y = ds[23]
    assert x.shape == (3, 32, 32) and torch.equal(x, torch.from_numpy(d.x_train[23]).permute(2, 0, 1)) and y == 3
    assert ds.num_classes == 10 and ds.labels.dtype == np.int64


def test_cifar_md5_mismatch(cifar_root):
    with pytest.raises(DataError, match=r"data_batch_1: md5 \w+ does not match the canonical c99cafc1"):
        load_cifar10(cifar_root, download=False, verify=True)


def test_cifar_missing_without_download(tmp_path):
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1") in message
    assert URL in message and "data.download=false" in message


def test_cifar_corrupt_pickle_names_the_file(cifar_root):
    path = cifar_root / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_3: not a readable CIFAR-10 pickle"):
        load_cifar10(cifar_root, download=False, verify=False)


def test_cifar_pickle_cannot_run_code(cifar_root):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (cifar_root / "cifar10" / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match=r"test_batch: .*refusing to load builtins.print"):
        load_cifar10(cifar_root, download=False, verify=False)


def test_cifar_extracts_only_known_members(cifar_root, tmp_path):
    # A local tarball stands in for the download (ensure_file keeps an existing file).
    source = cifar_root / "cifar10" / "cifar-10-batches-py"
    root = tmp_path / "fresh"
    (root / "cifar10").mkdir(parents=True)
    with tarfile.open(root / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, arcname=f"cifar-10-batches-py/{path.name}")
        evil = tarfile.TarInfo("cifar-10-batches-py/../../escaped")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    d = load_cifar10(root, download=True, verify=False)
    assert d.x_train.shape == (100, 32, 32, 3)
    assert not (root / "escaped").exists() and not (tmp_path / "escaped").exists()
    assert sorted(p.name for p in (root / "cifar10" / "cifar-10-batches-py").iterdir()) == sorted(
        p.name for p in source.iterdir())


@pytest.mark.integration
def test_real_cifar10(shared_cifar_root):
    d = load_cifar10(shared_cifar_root, download=False, verify=True)
    assert d.x_train.shape == (50_000, 32, 32, 3) and d.x_test.shape == (10_000, 32, 32, 3)
    assert np.bincount(d.y_train).tolist() == [5000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.class_names[0] == "airplane" and d.class_names[9] == "truck"

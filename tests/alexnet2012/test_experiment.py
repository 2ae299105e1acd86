"""The alexnet2012 app end to end on a miniature ILSVRC tree of real JPEGs:
records, 1-crop and 10-crop metrics, exact resume, skipped images, the plateau
schedule and the paper's tower split by config."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from alexnet2012.cli import run
from repro.config import ConfigError
from repro.train.loop import TrainingInterrupted
from repro.train.record import RunDir, read_metrics

CONF = str(Path(__file__).resolve().parents[2] / "conf" / "alexnet2012")


def config(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("alexnet2012", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def tiny(root: Path, *overrides: str) -> dict:
    """The mini tree (4 classes, 24 training JPEGs) through the paper's
    pipeline, stored at 32x32 for the CIFAR-scale network."""
    return config(
        "data=imagenet", f"data.root={root}", "data.image_size=32", "data.expected_classes=4", "data.workers=0",
        "model=alexnet_cifar", "model.num_classes=4", "model.init=torch_default", "augment.crop=24",
        "trainer.device=cpu", "trainer.batch_size=8", "trainer.epochs=2", "trainer.progress=false",
        "trainer.threads=1", "trainer.checkpoint_every_steps=0", "eval.batch_size=5", *overrides,
    )


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))


def test_run_writes_a_complete_record(imagenet_tree, tmp_path):
    m = run(tiny(imagenet_tree), tmp_path / "r")
    assert RunDir(tmp_path / "r").is_complete()
    assert m["era"] == "alexnet2012" and m["n_train"] == 24 and m["n_test"] == 8 and m["num_classes"] == 4
    assert m["train_samples"] == 48 and m["world_size"] == 1
    for split in ("val", "val10"):  # 1-crop every pass, 10 crops after the last
        final = m["final"][split]
        assert set(final) == {"loss", "error", "misses", "top5_error"}
        assert final["misses"] == round(final["error"] * 8 / 100)
        assert final["top5_error"] == 0.0  # 4 classes: the true one is always in the top 5
    history = (tmp_path / "r" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "skipped_images" in history[0] and "val10_error" in history[0]
    weights = torch.load(tmp_path / "r" / "model.pt")
    assert weights["conv2.weight"].shape == (128, 24, 5, 5)  # the grouped (two-tower) layout
    assert m["counts"]["total"] == sum(v.numel() for v in weights.values())


def test_same_seed_same_run(imagenet_tree, tmp_path):
    a = run(tiny(imagenet_tree, "eval.ten_crop=never"), tmp_path / "a")
    b = run(tiny(imagenet_tree, "eval.ten_crop=never"), tmp_path / "b")
    c = run(tiny(imagenet_tree, "eval.ten_crop=never", "seed=1"), tmp_path / "c")
    assert a["final"] == b["final"]
    wa, wb, wc = (torch.load(tmp_path / n / "model.pt") for n in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["fc8.weight"], wc["fc8.weight"])


def test_interrupted_run_resumes_exactly(imagenet_tree, tmp_path):
    # 3 steps per pass; interrupted at step 4 (mid-pass 2), after a checkpoint at step 2.
    cfg = tiny(imagenet_tree, "trainer.checkpoint_every_steps=2", "eval.ten_crop=never")
    straight = run(cfg, tmp_path / "straight")

    def interrupt(step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        run(cfg, tmp_path / "resumed", on_step=[interrupt])
    assert not RunDir(tmp_path / "resumed").is_complete()
    # As a fresh process would be: the global RNG anywhere but where the checkpoint left it
    # (dropout draws from it), so only a resume that restores it continues exactly.
    saved_rng = torch.get_rng_state()
    torch.manual_seed(2**31 - 1)
    try:
        resumed = run({**cfg, "resume": True}, tmp_path / "resumed")
    finally:
        torch.set_rng_state(saved_rng)
    assert resumed["final"] == straight["final"], "the resumed run differs: the checkpoint's RNG state was not restored?"
    wa, wb = (torch.load(tmp_path / n / "model.pt") for n in ("straight", "resumed"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert read_metrics(tmp_path / "resumed")["train_samples"] == 48


def test_unreadable_jpeg_fails_or_is_skipped_and_counted(imagenet_tree, tmp_path):
    bad = sorted((imagenet_tree / "imagenet" / "train" / "n01443537").iterdir())[2]
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(Exception, match=bad.name):
        run(tiny(imagenet_tree, "eval.ten_crop=never", "data.stats_images=0"), tmp_path / "fail")
    m = run(tiny(imagenet_tree, "eval.ten_crop=never", "data.on_bad_image=skip"), tmp_path / "skip")
    history = (tmp_path / "skip" / "history.csv").read_text().splitlines()
    column = history[0].split(",").index("skipped_images")
    # Once in the statistics pass is not training; then once per training pass.
    assert [float(row.split(",")[column]) for row in history[1:]] == [1.0, 2.0]
    assert m["train_samples"] == 48  # the loop counts steps' nominal examples; the skip log has the truth


def test_plateau_schedule_divides_the_rate_by_ten(imagenet_tree, tmp_path):
    # lr 1e-9: nothing improves. Pass 1 sets the best error; with patience 0 every
    # later pass without improvement divides the next pass's rate by 10, 3 times at most.
    cfg = tiny(imagenet_tree, "trainer.epochs=6", "optim.lr=1e-9", "optim.plateau_patience=0", "eval.ten_crop=never")
    run(cfg, tmp_path / "p")
    lines = (tmp_path / "p" / "history.csv").read_text().splitlines()
    lrs = [float(row.split(",")[1]) for row in lines[1:]]
    assert lrs == pytest.approx([1e-9, 1e-9, 1e-10, 1e-11, 1e-12, 1e-12], rel=1e-9)


def test_tower_split_by_config_trains_like_the_grouped_model(imagenet_tree, tmp_path):
    overrides = ("eval.ten_crop=never", "model.dropout=0.0", "trainer.epochs=1")
    grouped = run(tiny(imagenet_tree, *overrides), tmp_path / "g")
    split = run(tiny(imagenet_tree, *overrides, "parallel.mode=towers", "parallel.tower_devices=[cpu,cpu]"), tmp_path / "t")
    assert split["parallel"]["mode"] == "towers"
    wg, wt = (torch.load(tmp_path / n / "model.pt") for n in "gt")
    assert wg.keys() == wt.keys()
    for k in wg:  # the same function, trained on the same batches: float32 rounding apart
        torch.testing.assert_close(wt[k], wg[k], rtol=1e-3, atol=1e-5)
    assert split["final"]["val"]["misses"] == grouped["final"]["val"]["misses"]


def test_config_mistakes_fail_before_any_data_is_read(tmp_path):
    with pytest.raises(ConfigError, match="augment.crop=200 must equal model.input_size=224"):
        run(config("augment.crop=200", f"data.root={tmp_path}"), tmp_path / "r")
    with pytest.raises(ConfigError, match="parallel.mode=towers"):
        run(config("parallel.mode=towers", "model.variant=one_tower", f"data.root={tmp_path}"), tmp_path / "r2")
    assert not (tmp_path / "r").exists()


def test_missing_imagenet_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(Exception, match="image-net.org") as err:
        run(config(f"data.root={tmp_path}", "trainer.device=cpu"), tmp_path / "r")
    assert str(tmp_path / "imagenet") in str(err.value)


def test_paper_config_composes_to_the_paper():
    cfg = config()
    from alexnet2012.recipe import recipe_from_config

    r = recipe_from_config(cfg)
    assert (r.optim.lr, r.optim.momentum, r.optim.weight_decay, r.trainer.batch_size) == (0.01, 0.9, 5e-4, 128)
    assert (r.optim.schedule, r.optim.gamma, r.optim.max_reductions, r.trainer.epochs) == ("plateau", 0.1, 3, 90)
    assert (r.augment.crop, r.augment.lighting_std, r.data.image_size, r.model.variant) == (224, 0.1, 256, "two_tower")
    step = recipe_from_config(config("optim=alexnet2012_step"))
    assert step.optim.milestones == (30, 60, 80)


def test_packed_copy_trains_exactly_like_the_jpegs(imagenet_tree, tmp_path, capsys):
    from alexnet2012.pack_cli import main as pack

    assert pack(["--root", str(imagenet_tree), "--size", "32", "--expected-classes", "4"]) == 0
    assert (imagenet_tree / "imagenet" / "packed" / "train_32" / "meta.json").is_file()
    jpeg = run(tiny(imagenet_tree, "eval.ten_crop=never"), tmp_path / "jpeg")
    packed = run(tiny(imagenet_tree, "eval.ten_crop=never", "data.packed=true"), tmp_path / "packed")
    assert packed["data"] == "imagenet-packed"
    assert packed["final"] == jpeg["final"]
    # Packing again into a finished pack is refused, not silently redone.
    capsys.readouterr()
    assert pack(["--root", str(imagenet_tree), "--size", "32", "--expected-classes", "4"]) == 2
    train_pack = imagenet_tree / "imagenet" / "packed" / "train_32"
    assert capsys.readouterr().err.strip() == (f"error: {train_pack} already holds a pack (meta.json exists); "
                                               "delete the folder or choose another one to pack again.")


def test_ddp_mode_and_torchrun_must_go_together(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="launch with `torchrun"):
        run(config("parallel.mode=ddp", f"data.root={tmp_path}"), tmp_path / "r")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="set parallel.mode=ddp"):
        run(config(f"data.root={tmp_path}"), tmp_path / "r")


def test_another_eras_data_is_refused_by_name(tmp_path):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException):  # each app its own config tree: no usps in conf/alexnet2012/data/
        config("data=usps")
    given = config(f"data.root={tmp_path}")
    given["data"]["name"] = "usps"  # and the typed config refuses it in a config written by hand
    with pytest.raises(ConfigError, match="data.name: 'usps' is not one of"):
        run(given, tmp_path / "r")


def test_cli_help_names_the_app_and_its_examples():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "alexnet2012.cli", "--help"], capture_output=True, text=True,
                         cwd=Path(CONF).parents[1], timeout=120)
    assert out.returncode == 0, out.stderr
    assert "alexnet2012: train the network of Krizhevsky" in out.stdout
    assert "experiment=alexnet_cifar10" in out.stdout and "parallel.mode=ddp" in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_the_default_cuda_device_without_a_gpu_says_how_to_run_on_the_cpu(tmp_path):
    with pytest.raises(ConfigError) as err:
        run(config(f"data.root={tmp_path}"), tmp_path / "r")  # the paper's config: trainer.device=cuda
    assert str(err.value) == (
        "trainer.device=cuda but no CUDA GPU is available (torch.cuda.is_available() is False); run on the CPU "
        "with trainer.device=cpu (alexnet2012's default device is cuda: add trainer.device=cpu to the command, "
        "or run `alexnet2012 experiment=alexnet_cifar10`, AlexNet on CIFAR-10 sized for a CPU)"
    )
    assert not (tmp_path / "r").exists()  # before the run folder is claimed or any data read


def test_devices_are_checked_as_each_torchrun_process_uses_them(monkeypatch):
    from alexnet2012.recipe import check_devices, recipe_from_config

    recipe = recipe_from_config(config())  # trainer.device=cuda: composing needs no GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_devices(recipe)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    check_devices(recipe)  # cuda means cuda:1 for this process: present
    monkeypatch.setenv("LOCAL_RANK", "3")
    with pytest.raises(ConfigError, match=r"^trainer.device=cuda:3 but this machine has 2 CUDA GPU\(s\), cuda:0..cuda:1"):
        check_devices(recipe)


def test_tower_devices_are_checked(monkeypatch):
    from alexnet2012.recipe import check_devices, recipe_from_config

    with pytest.raises(ConfigError, match=r"^parallel: tower_devices\[1\]='gpu1' is not a device to train on"):
        recipe_from_config(config("parallel.tower_devices=[cuda:0,gpu1]"))
    recipe = recipe_from_config(config("parallel.mode=towers", "trainer.device=cuda:0"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"^parallel.tower_devices\[1\]=cuda:1 but this machine has 1 CUDA GPU"):
        check_devices(recipe)


@pytest.mark.parametrize("seed,message", [("abc", "seed: expected an integer, got 'abc'"),
                                          ("-3", "seed: -3 is out of range")])
def test_a_bad_seed_fails_before_any_data_is_read(tmp_path, seed, message):
    with pytest.raises(ConfigError, match=rf"^{message}"):
        run(config(f"seed={seed}", f"data.root={tmp_path}", "trainer.device=cpu"), tmp_path / "r")
    assert not (tmp_path / "r").exists()

"""Both apps as users run them (subprocesses): each its own config tree, a
validation split and its objective, watchable passes, and the messages that
replace tracebacks (issue 19)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def app(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"{name}.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def groups(help_text: str) -> dict[str, list[str]]:
    part = help_text.split("== Configuration groups ==")[1].split("== Config ==")[0]
    return {ln.split(": ")[0]: ln.split(": ")[1].split(", ") for ln in part.splitlines() if ": " in ln}


def test_alexnet2012_help_lists_only_its_own_groups():
    out = app("alexnet2012", "--help")
    assert out.returncode == 0, out.stderr
    found = groups(out.stdout)
    assert found["data"] == ["cifar10", "imagenet"] and found["trainer"] == ["alexnet2012"]
    assert found["logger"] == ["csv", "none", "tensorboard"]  # shared: conf/shared/logger/
    assert "trick2012" in found and not {"trick", "row/karpathy_table"} & set(found)
    assert "sgd" not in found["optim"] and "lecun1989" not in found["model"]


def test_alexnet2012_refuses_a_1989_option_before_any_folder_is_made(tmp_path):
    out = app("alexnet2012", "data=usps", f"hydra.run.dir={tmp_path / 'run'}")
    assert (out.returncode, out.stderr.strip()) == (
        2, "error: unknown data 'usps'; valid: cifar10, imagenet (usps is lecun1989's: run lecun1989 data=usps)")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_alexnet2012_without_a_gpu_says_so_in_one_line_and_how_to_run_on_the_cpu(tmp_path):
    # alexnet2012's default trainer.device is cuda (conf/alexnet2012/trainer/alexnet2012.yaml).
    out = app("alexnet2012", f"data.root={tmp_path / 'nodata'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: trainer.device=cuda but no CUDA GPU is available")
    assert "trainer.device=cpu" in lines[0] and "experiment=alexnet_cifar10" in lines[0]
    assert not (tmp_path / "run").exists()  # the folder Hydra made is removed, being empty


def test_cfg_job_shows_interpolations_and_resolve_shows_values(tmp_path):
    env = {**os.environ, "REPRO_DATA_ROOT": str(tmp_path / "digits")}
    composed = app("lecun1989", "--cfg", "job", env=env)
    resolved = app("lecun1989", "--cfg", "job", "--resolve", env=env)
    assert composed.returncode == resolved.returncode == 0, composed.stderr + resolved.stderr
    assert "root: ${oc.env:REPRO_DATA_ROOT,data}" in composed.stdout  # as README.md says
    assert f"root: {tmp_path / 'digits'}" in resolved.stdout and "${" not in resolved.stdout
    assert "logger:\n  name: none" in composed.stdout  # the default logger


def test_a_1989_run_with_a_validation_split_reports_it_beside_train_and_test(usps_root, tmp_path):
    run = tmp_path / "run"
    out = app("lecun1989", f"data.root={usps_root}", "data.verify=false", "data.val_size=10", "trainer.epochs=2",
              "logger=csv", "logger.every_steps=10", f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr
    assert "usps: 50 train / 10 validation (held out of the training digits) / 30 test digits" in out.stdout
    splits = [ln.split("split ")[1].split(".")[0].strip() for ln in out.stdout.splitlines() if " eval: split " in ln]
    assert splits == ["train", "holdout", "test"] * 2
    assert [ln.split(" ")[1] for ln in out.stdout.splitlines() if " done in " in ln] == ["1/2", "2/2"]
    history = list(csv.DictReader(open(run / "history.csv")))
    assert {"holdout_loss", "holdout_error", "holdout_misses"} <= set(history[0])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_train"] == 50 and metrics["n_holdout"] == 10
    assert metrics["final"]["holdout"]["error"] == pytest.approx(float(history[-1]["holdout_error"]))
    assert metrics["final"]["holdout"]["misses"] == round(metrics["final"]["holdout"]["error"] / 10)
    scalars = list(csv.DictReader(open(run / "scalars.csv")))
    assert [int(r["step"]) for r in scalars if r["name"] == "train/loss"] == [10, 20, 30, 40, 50] * 1 + [60, 70, 80, 90, 100]


def test_an_optuna_sweep_tunes_the_rate_on_the_validation_split(usps_root, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="optional: pip install -e .[optuna]")
    sweep = tmp_path / "sweep"
    out = app("lecun1989", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.seed=0",
              "optim.lr=tag(log,interval(0.001,0.3))", f"data.root={usps_root}", "data.verify=false",
              "data.val_size=10", "trainer.epochs=1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stderr[-3000:]
    best = [ln for ln in (out.stdout + out.stderr).splitlines() if "Best value:" in ln]
    holdout = sorted(json.loads((job / "metrics.json").read_text())["final"]["holdout"]["error"]
                     for job in sweep.iterdir() if (job / "metrics.json").exists())
    assert len(holdout) == 3 and float(best[0].split("Best value:")[1]) == pytest.approx(holdout[0])


@pytest.mark.integration
def test_an_alexnet_run_with_a_validation_split_holds_it_out_of_training_and_the_statistics(shared_data_root,
                                                                                            tmp_path):
    run = tmp_path / "run"
    out = app("alexnet2012", "experiment=alexnet_cifar10", f"data.root={shared_data_root}", "data.n_train=300",
              "data.n_val=100", "data.val_size=50", "trainer.epochs=1", "eval.ten_crop=never",
              f"hydra.run.dir={run}", env={**os.environ, "REPRO_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "cifar10: 250 training (+50 held out for validation) / 100 validation images" in out.stdout
    assert "mean and PCA from 250 images" in out.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_holdout"]) == (250, 50)
    assert metrics["final"]["holdout"]["misses"] == round(metrics["final"]["holdout"]["error"] / 2)
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert header.index("holdout_error") < header.index("val_error")

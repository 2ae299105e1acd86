"""The `lecun1989` command as users run it (a subprocess)."""

import json
import os
import subprocess
import sys

import pytest
import torch


def lecun1989(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lecun1989.cli", *args], capture_output=True, text=True, timeout=300, env=env)


def test_help_lists_config_groups():
    out = lecun1989("--help")
    assert out.returncode == 0, out.stderr
    # Each app its own config tree (conf/lecun1989/, conf/shared/): only the 1989 groups and options.
    lines = {line.split(": ")[0]: line.split(": ")[1].split(", ") for line in out.stdout.splitlines() if ": " in line}
    for group, options in (("data", ["mnist16", "usps"]), ("model", ["lecun1989"]), ("optim", ["sdlm", "sgd"]),
                           ("trainer", ["lecun1989"]), ("experiment", ["ablate_each", "fused_vs_eager", "karpathy_protocol",
                                           "karpathy_protocol_his", "karpathy_table", "sdlm", "usps_budget"]),
                           ("protocol", ["final", "mnist_unused", "validation"]), ("logger", ["csv", "none", "tensorboard"])):
        assert lines.get(group) == options, (group, lines.get(group))
    assert {"adamw", "augment_shift", "softmax_ce"} <= set(lines["trick"])
    assert not {"trick2012", "model/ops", "row/cc_ablations"} & set(lines), sorted(lines)


@pytest.mark.parametrize("override,line", [
    ("data=cifar10", "error: unknown data 'cifar10'; valid: mnist16, usps (cifar10 is alexnet2012's: run alexnet2012 data=cifar10)"),
    ("trick2012=[dropout]", "error: trick2012 is a config group of alexnet2012, not of this command "
                            "(run alexnet2012 trick2012=[dropout])"),
])
def test_another_apps_option_is_refused_before_any_folder_is_made(tmp_path, override, line):
    out = lecun1989(override, f"hydra.run.dir={tmp_path / 'run'}")
    assert (out.returncode, out.stderr.strip()) == (2, line)
    assert not (tmp_path / "run").exists()


def test_one_pass_run_prints_eval_lines_and_writes_the_record(usps_root, tmp_path):
    run_dir = tmp_path / "run"
    out = lecun1989(f"data.root={usps_root}", "data.verify=false", "trainer.epochs=1", f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "usps: 60 train / 30 test digits" in text
    assert "eval: split train. loss" in text and "eval: split test . loss" in text and "misses:" in text
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["passes"] == 1


def test_missing_data_is_a_clear_error_not_a_traceback(tmp_path):
    out = lecun1989(f"data.root={tmp_path / 'empty'}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2
    assert out.stderr.startswith("error: missing data file usps/zip.train.gz")
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("override,message", [
    ("trainer.epochs=0", "epochs must be >= 1"),
    ("model.h3_unit=3", "h3_unit"),
    ("trainer.eval_batch_size=0", "eval_batch_size must be >= 1"),  # before any pass is trained
    # a 2012-era switch, not the 1989 trainer's: our line, not Hydra's advice to append it
    ("trainer.channels_last=true", "error: unknown key trainer.channels_last: trainer has no key 'channels_last'"),
])
def test_bad_config_is_a_clear_error(usps_root, tmp_path, override, message):
    out = lecun1989(f"data.root={usps_root}", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr


def test_mixed_precision_on_a_fused_backend_is_refused_before_any_data_is_read(tmp_path):
    out = lecun1989(f"data.root={tmp_path / 'empty'}", "data.download=false", "trick=[mixed_precision]",
                    "trainer.backend=fused_cpu", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: trainer.precision=bf16 applies to the eager backend only")


def test_conflicting_tricks_are_a_clear_error(usps_root, tmp_path):
    out = lecun1989(f"data.root={usps_root}", "trick=[cosine_lr,one_cycle]", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "error: trick: cosine_lr and one_cycle both change optim." in out.stderr


TOP_KEYS = "augment, data, label_smoothing, logger, loss, model, name, optim, resume, seed, table, trainer, trick"


# Each fails before any data is read (the data root is empty: reaching it would say "missing data file"),
# with one `error:` line, exit 2, and no run record.
@pytest.mark.parametrize("overrides,line", [
    (["optim.lr=nan"], "error: optim.lr: expected a finite number, got nan"),
    (["optim.lr=inf"], "error: optim.lr: expected a finite number, got inf"),
    (["model.init_scale=nan"], "error: model.init_scale: expected a finite number, got nan"),
    (["seed=abc"], "error: seed: expected an integer, got 'abc'"),
    (["trainer.device=garbage"], "error: trainer: device='garbage' is not a device to train on; use cpu, cuda or "
                                 "cuda:<index> (torch device types: cpu, cuda, mps, xpu)"),
    pytest.param(["trainer.device=cuda"], "error: trainer.device=cuda but no CUDA GPU is available "
                 "(torch.cuda.is_available() is False); run on the CPU with trainer.device=cpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")),
    (["trick=[adamw,foo]"], "error: unknown trick 'foo'; valid: adamw, augment_distort, augment_shift, batchnorm, "
                            "cosine_lr, dropout, init_kaiming, init_karpathy, label_smoothing, minibatch, "
                            "mixed_precision, more_data, more_passes, one_cycle, rebalance, relu, softmax_ce, swa, wider"),
    (["experiment=nope"], "error: unknown experiment 'nope'; valid: ablate_each, fused_vs_eager, karpathy_protocol, "
                          "karpathy_protocol_his, karpathy_table, sdlm, usps_budget"),
    # Karpathy's own weights need his init: a config error by name, before any data is read.
    (["model.init_draw=karpathy1337"], "error: model.init_draw=karpathy1337 draws Karpathy's own tensors, which need "
                                       "his init and shapes (trick init_karpathy, the paper's widths); here "
                                       "init_fan_in_power=1.0, bias_init=uniform"),
    # H2's three groups need map counts divisible by 3: a model check, not a traceback from building the net.
    (["model.h2_maps=7"], "error: model: h2_scheme=three_groups needs h1_maps and h2_maps divisible by 3, got 12 and 7 "
                          "(or model.h2_scheme=full)"),
    (["model.h1_maps=1000000"], "error: model: h2_scheme=three_groups needs h1_maps and h2_maps divisible by 3, "
                                "got 1000000 and 12 (or model.h2_scheme=full)"),
    # A key no part of the app reads, appended or not (issue 37).
    (["+foo=1"], f"error: unknown key foo (appended, but no part of this command reads it); valid top-level keys: {TOP_KEYS}"),
    (["+parallel.mode=none"], "error: unknown key parallel.mode (appended, but no part of this command reads it); "
                              f"valid top-level keys: {TOP_KEYS}"),
    (["foo=1"], f"error: unknown key foo (not a key of this command's config); valid top-level keys: {TOP_KEYS}"),
])
def test_bad_values_are_one_error_line_before_any_data_is_read(tmp_path, overrides, line):
    out = lecun1989(f"data.root={tmp_path / 'empty'}", "data.download=false", *overrides,
                    f"hydra.run.dir={tmp_path / 'run'}")
    assert (out.returncode, out.stderr.splitlines()) == (2, [line])
    assert not (tmp_path / "run").exists()  # Hydra's empty run folder is removed


def test_an_unwritable_run_dir_is_one_error_line(tmp_path):
    (tmp_path / "afile").write_text("")
    out = lecun1989(f"hydra.run.dir={tmp_path / 'afile' / 'run'}")
    assert (out.returncode, out.stderr.splitlines()) == (2, [
        f"error: hydra.run.dir={tmp_path / 'afile' / 'run'} cannot be created: {tmp_path / 'afile'} is a file, "
        "not a folder; choose another folder (hydra.run.dir=...)"])


@pytest.mark.parametrize("make,said", [(lambda p: p.mkdir(), "is a directory where the data file should be"),
                                       (os.mkfifo, "is not a regular file but a named pipe (FIFO)")])
def test_a_directory_or_fifo_for_a_data_file_is_not_reported_as_missing(usps_root, tmp_path, make, said):
    target = usps_root / "usps" / "zip.train.gz"
    target.unlink()
    make(target)
    out = lecun1989(f"data.root={usps_root}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "not found" not in out.stderr
    assert out.stderr.splitlines()[0].startswith(f"error: {target} {said}")
    assert not (tmp_path / "run" / "metrics.json").exists()

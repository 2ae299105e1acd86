"""bench/kernels.py and the self-check run end to end (a CPU smoke run: the speed
itself is a GPU measurement, made by bench/kernels_gpu_checks.sh)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_bench_smoke_run_writes_tables_and_chart(tmp_path):
    done = subprocess.run([sys.executable, "bench/kernels.py", "--device", "cpu", "--batch", "1", "--reps", "1",
                           "--warmup", "0", "--dtype", "fp32", "--only", "pool5", "--no-conv", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "kernels.csv")
    assert list(frame["layer"]) == ["pool5"] and frame["shape"][0] == "1x256x13x13"
    assert (frame["fwd_ours_us"] > 0).all() and (frame["fwd+bwd_speedup"] > 0).all()
    assert "smoke run" in frame["hardware"][0]
    assert (tmp_path / "kernels.png").stat().st_size > 1000
    assert "| pool5 | max_pool 3x3/2 | 1x256x13x13 |" in (tmp_path / "kernels.md").read_text()


def test_bench_conv_table_smoke_run(tmp_path):
    done = subprocess.run([sys.executable, "bench/kernels.py", "--device", "cpu", "--batch", "1", "--reps", "1",
                           "--warmup", "0", "--dtype", "bf16", "--conv-only", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "kernels_conv.csv")
    assert len(frame) == 15 and set(frame["pass"]) == {"forward", "backward data", "backward weight"}
    assert frame["in_training"].sum() == 14  # conv1's data gradient is not
    assert (frame["ours_us"] > 0).all() and (frame["cudnn_tflops"] > 0).all()
    md = (tmp_path / "kernels_conv.md").read_text()
    assert "| conv1 | backward data (not in training) | bfloat16 |" in md and "| bfloat16 |" in md
    assert not (tmp_path / "kernels.csv").exists()


def test_bench_refuses_cuda_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: nothing to refuse")
    done = subprocess.run([sys.executable, "bench/kernels.py", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2 and "no CUDA GPU here" in done.stderr


def test_selfcheck_passes_on_the_cpu_path():
    done = subprocess.run([sys.executable, "-m", "alexnet2012.kernels.selfcheck", "--device", "cpu"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok  ") == 22 and "0 failed" in done.stdout

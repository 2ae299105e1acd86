"""bench/kernels.py and the self-check run end to end (a CPU smoke run: the speed
itself is a GPU measurement, made by bench/gpu_session.sh kernels)."""

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
    assert done.stdout.count("ok  ") == 26 and "0 failed" in done.stdout


def _toolkit_or_skip():
    from repro.native_build import cuda_home

    if cuda_home() is None:
        pytest.skip("no CUDA toolkit: bench/kernels_sass.py compiles with nvcc")


def test_kernels_sass_checks_the_bf16_conv_main_loop(tmp_path):
    # The machine code of the working tree's conv kernels (nvcc for sm_90, cuobjdump; no GPU): the issue-23
    # targets of each bf16 pass's main loop, and the table kept by (label, kernel).
    _toolkit_or_skip()
    for label in ("first", "second", "first"):
        done = subprocess.run([sys.executable, "bench/kernels_sass.py", "--label", label, "--only", "conv", "--out",
                               str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "kernels_sass.csv")
    assert list(frame["label"].unique()) == ["second", "first"] and len(frame) == 2 * 12  # replaced, not duplicated
    mma = frame[(frame["label"] == "first") & frame["kernel"].str.startswith("conv_gemm_mma_bf16")]
    assert len(mma) == 3  # forward, backward data, backward weight
    assert (mma["tc_instrs"] >= 16).all() and (mma["instrs_per_tc"] <= 40).all()
    assert (mma["div64_calls"] == 0).all() and (mma["spill_stores"] == 0).all() and (mma["spill_loads"] == 0).all()
    assert (mma["warps_per_sm"] >= 16).all()  # 4 warps per scheduler
    assert "## " in (tmp_path / "kernels_sass.md").read_text() and "conv_gemm_mma_bf16<ForwardOps<bf16>>" in (
        tmp_path / "kernels_sass.md").read_text()


def _sass_tools_or_skip():
    _toolkit_or_skip()
    sys.path.insert(0, str(ROOT / "bench"))
    import kernels_sass as ks

    try:
        ks.cuobjdump()
    except SystemExit:
        pytest.skip("no cuobjdump (CUDA toolkit or the triton wheel): bench/kernels_sass.py disassembles with it")


ELEMENTWISE = ["lrn", "maxpool", "bias_relu", "dropout", "softmax_xent"]


def test_kernels_sass_elementwise_kernels_have_no_64bit_division(tmp_path):
    # Issue 23: the elementwise kernels index in 32 bits with precomputed multiply-shift divisions; a 64-bit
    # division anywhere in a kernel (the ~20-instruction subroutine, per element in a grid-stride loop) fails.
    _sass_tools_or_skip()
    done = subprocess.run([sys.executable, "bench/kernels_sass.py", "--label", "now", "--only", *ELEMENTWISE,
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(tmp_path / "kernels_sass.csv")
    assert set(frame["family"]) == set(ELEMENTWISE) and len(frame) == 20  # fp32 and bf16 of each, the reductions
    for kernel in ("lrn_forward_kernel<bf16>", "maxpool_backward_kernel<float>", "bias_relu_backward_kernel<bf16>",
                   "dropout_kernel<float>", "xent_backward_kernel<bf16>", "sum_splits_kernel", "mean_kernel"):
        assert kernel in set(frame["kernel"])
    assert (frame["kernel_div64_calls"] == 0).all(), frame[frame["kernel_div64_calls"] > 0][["kernel",
                                                                                            "kernel_div64_calls"]]
    assert (frame["div64_calls"] == 0).all() and (frame["spill_stores"] == 0).all()
    assert (frame["kernel_instrs"] > 0).all()
    assert "| kernel_instrs | kernel_div64_calls |" in (tmp_path / "kernels_sass.md").read_text()


def test_kernels_sass_counts_division_calls_in_the_whole_kernel():
    sys.path.insert(0, str(ROOT / "bench"))
    import kernels_sass as ks

    # A 64-bit division before the loop (the subroutine converts its divisor with I2F.U64.RP) counts for the
    # kernel, not for its main loop; a call of another subroutine counts for neither.
    sass = """
        Function : k
        /*0000*/                   CALL.REL.NOINC 0x60 ;
        /*0010*/                   FFMA R1, R2, R3, R4 ;
        /*0020*/               @P0 BRA 0x10 ;
        /*0030*/                   CALL.REL.NOINC 0x90 ;
        /*0040*/                   EXIT ;
        /*0050*/                   BRA 0x50 ;
        /*0060*/                   I2F.U64.RP R5, R6 ;
        /*0070*/                   MUFU.RCP R5, R5 ;
        /*0080*/                   RET.REL.NODEC R2 0x0 ;
        /*0090*/                   FADD R1, R1, R1 ;
        /*00a0*/                   RET.REL.NODEC R2 0x0 ;
    """
    code = ks.parse_sass(sass)["k"]
    assert ks.kernel_divisions(code) == 1
    loop = ks.main_loop(code)
    assert loop == (1, 2) and ks.mix(code, loop)["div64_calls"] == 0


def test_kernels_sass_occupancy_and_loop_finder():
    sys.path.insert(0, str(ROOT / "bench"))
    import kernels_sass as ks

    # The old WMMA kernel: 212 registers, 128 threads -> 2 blocks, 8 warps (register-bound).
    assert ks.occupancy(212, 27136, 128) == {"blocks_per_sm": 2, "warps_per_sm": 8, "warps_per_scheduler": 2.0,
                                             "limited_by": "registers"}
    assert ks.occupancy(32, 0, 256)["warps_per_sm"] == 64
    assert ks.occupancy(40, 100 * 1024, 128)["limited_by"] == "shared memory"
    sass = """
        Function : k
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;
        /*0020*/               @P0 BRA 0x10 ;
        /*0030*/                   FFMA R1, R2, R3, R4 ;
        /*0040*/               @P1 BRA 0x0 ;
        /*0050*/                   EXIT ;
    """
    code = ks.parse_sass(sass)["k"]
    assert ks.loops(code) == [(1, 2), (0, 4)]
    assert ks.main_loop(code) == (1, 2)  # the innermost loop holding the tensor-core instruction
    assert ks.mix(code, (1, 2))["instrs_per_tc"] == 2.0

"""The kernels' build step: it compiles everywhere CI runs (nvcc, no GPU needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from alexnet2012.kernels import build

OPS = ("lrn_forward", "lrn_backward", "maxpool_forward", "maxpool_backward", "bias_relu", "bias_relu_backward",
       "dropout", "softmax_xent", "softmax_xent_backward", "conv_forward", "conv_backward_data",
       "conv_backward_weight", "philox4x32_10")


def test_build_registers_every_op_with_cpu_and_cuda_kernels():
    path = build.build()
    assert path.exists()
    for name in OPS:
        assert hasattr(torch.ops.repro_alexnet, name), name
    if not build.has_cuda_kernels():
        pytest.skip("CPU-only torch or no nvcc: the CUDA kernels were not compiled")
    # The CUDA implementations are registered even on a machine without a GPU.
    for name in OPS[:-1]:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"repro_alexnet::{name}", "CUDA"), name
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"repro_alexnet::{name}", "CPU"), name


@pytest.mark.skipif(torch.version.cuda is None, reason="torch is a CPU-only build; the CUDA build compiles the kernels")
def test_cuda_toolkit_is_found_so_ci_compiles_the_kernels():
    # CI must prove the .cu files compile: a missing toolkit is a failure, not a skip.
    assert build.has_cuda_kernels(), "torch has CUDA but no nvcc was found (set CUDA_HOME)"


def test_build_step_cli():
    done = subprocess.run([sys.executable, "-m", "alexnet2012.kernels.build"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    assert "built the AlexNet kernels" in done.stdout


def test_philox_known_answers():
    from alexnet2012.kernels import ops, reference

    # Random123's published known-answer vectors for Philox4x32-10.
    cases = [
        ((0, 0, 0, 0), (0, 0), [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    ]
    for counter, key, expected in cases:
        assert ops.philox4x32_10(counter, key) == expected  # the kernels' C++ (shared with the GPU)
        words = reference.philox4x32_10([torch.tensor([c]) for c in counter], key)  # plain PyTorch
        assert [int(w) for w in words] == expected

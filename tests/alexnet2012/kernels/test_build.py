"""The kernels' build step: it compiles everywhere CI runs (nvcc, no GPU needed), and it
happens on first use, never on import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from alexnet2012.kernels import build, library

ROOT = Path(__file__).resolve().parents[3]
OPS = ("lrn_forward", "lrn_backward", "maxpool_forward", "maxpool_backward", "bias_relu", "bias_relu_backward",
       "dropout", "softmax_xent", "softmax_xent_backward", "conv_forward", "conv_backward_data",
       "conv_backward_weight", "philox4x32_10")


def test_build_registers_every_op_with_cpu_and_cuda_kernels():
    path = build.build()
    assert path.exists() and build.library_name(build.has_cuda_kernels()) in path.name
    for name in OPS:
        assert hasattr(torch.ops.repro_alexnet, name), name
    if not build.has_cuda_kernels():
        pytest.skip("CPU-only torch or no nvcc: the CUDA kernels were not compiled")
    # The CUDA implementations are registered even on a machine without a GPU.
    for name in OPS[:-1]:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"repro_alexnet::{name}", "CUDA"), name
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"repro_alexnet::{name}", "CPU"), name


def test_every_family_has_its_binding_file_and_module():
    # One <family>_ops.cpp (schemas, checks, CPU path, launch glue) and one torch-free .cu per family.
    for family in build.FAMILIES:
        assert (build.CSRC / f"{family}_ops.cpp").exists() and (build.CSRC / f"{family}.cu").exists(), family
        includes = [line for line in (build.CSRC / f"{family}.cu").read_text().splitlines() if "#include" in line]
        assert not any(lib in line for line in includes for lib in ("torch", "ATen", "c10")), family
        assert (ROOT / "alexnet2012" / "kernels" / f"{family}.py").exists(), family
    # ... plus the bf16 convolution's CPU replay, which only its test builds (test_conv_replay.py).
    assert sorted(p.name for p in build.CSRC.glob("*.cpp")) == sorted([*build.OP_FILES, "conv_replay.cpp"])


@pytest.mark.skipif(torch.version.cuda is None, reason="torch is a CPU-only build; the CUDA build compiles the kernels")
def test_cuda_toolkit_is_found_so_ci_compiles_the_kernels():
    # CI must prove the .cu files compile: a missing toolkit is a failure, not a skip.
    assert build.has_cuda_kernels(), "torch has CUDA but no nvcc was found (set CUDA_HOME)"


def test_build_step_cli():
    done = subprocess.run([sys.executable, "-m", "alexnet2012.kernels.build"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    assert "built the AlexNet kernels" in done.stdout


def test_cache_key_follows_the_build_inputs(monkeypatch):
    key = build.cache_key(True)
    assert key == build.cache_key(True) and key != build.cache_key(False)
    monkeypatch.setattr(build, "CUDA_CFLAGS", [*build.CUDA_CFLAGS, "-G"])
    assert build.cache_key(True) != key


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, **env})


def test_importing_builds_nothing(tmp_path):
    # Every module of the package, the seam and the models built on it, even a torch-ops model:
    # with the build cache pointed at an empty folder, nothing may be compiled or loaded.
    done = _python("""
        import importlib, pkgutil
        import torch
        import alexnet2012
        for m in pkgutil.walk_packages(alexnet2012.__path__, "alexnet2012."):
            importlib.import_module(m.name)
        from alexnet2012.kernels import library
        from alexnet2012.model import AlexNetConfig, build_model
        from alexnet2012.ops import OpsConfig
        OpsConfig(lrn="custom", conv="custom").validate()
        build_model(AlexNetConfig(input_size=67, channels=(8, 8, 8, 8, 8), fc_width=8, num_classes=3), 0)
        assert not library.is_built()
        assert not hasattr(torch.ops.repro_alexnet, "lrn_forward")
        print("imported", len(list(pkgutil.walk_packages(alexnet2012.__path__, "alexnet2012."))))
    """, REPRO_BUILD_DIR=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported" in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("first_use", ["layer", "call", "compiled call"])
def test_first_use_builds_and_registers_the_python_side(first_use):
    library.ensure_built()  # here, so the subprocess below finds the library in the cache
    done = _python(f"""
        import torch
        from alexnet2012.kernels import library, lrn
        assert not library.is_built()
        if {first_use!r} == "layer":
            lrn.LRN()
        elif {first_use!r} == "call":
            lrn.lrn(torch.randn(1, 4, 2, 2))
        else:  # the build runs eagerly while torch.compile traces (no graph break)
            torch.compile(lrn.lrn, backend="aot_eager", fullgraph=True)(torch.randn(1, 4, 2, 2))
        assert library.is_built() and hasattr(torch.ops.repro_alexnet, "conv_forward")
        # Every family's fake and autograd are registered, not only the one first used.
        x = torch.randn(1, 2, 5, 5, requires_grad=True)
        torch.ops.repro_alexnet.conv_forward(x, torch.randn(3, 2, 3, 3), None, 1, 0, 1, True).sum().backward()
        assert x.grad is not None
        with torch._subclasses.FakeTensorMode():
            y = torch.ops.repro_alexnet.maxpool_forward(torch.empty(1, 1, 7, 7), 3, 2, 0)[0]
        assert y.shape == (1, 1, 3, 3)
        print("ok")
    """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout

"""Shared by the kernel tests: the devices to run on, tolerances per dtype, gradient helpers."""

from __future__ import annotations

import pytest
import torch

HAS_GPU = torch.cuda.is_available()
GPU_ONLY = pytest.mark.skipif(
    not HAS_GPU, reason="no CUDA GPU on this machine: the CUDA kernels are compile-checked "
    "(test_build.py) and their math runs here through the CPU path, which shares it")

# Every op test runs on the CPU path here and on the GPU where one is present.
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=GPU_ONLY)]
DTYPES = [pytest.param(torch.float32, id="fp32"), pytest.param(torch.bfloat16, id="bf16")]

# (rtol, atol) of an op's output against the fp64 reference: fp32 arithmetic
# inside; bf16 outputs are rounded to 8 bits of mantissa (relative 2^-8).
TOLERANCE = {torch.float32: (2e-5, 1e-6), torch.bfloat16: (1.6e-2, 1e-2)}


def close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, scale: float = 1.0) -> None:
    rtol, atol = TOLERANCE[dtype]
    torch.testing.assert_close(actual.double().cpu(), expected.double().cpu(), rtol=rtol, atol=atol * scale)


def noncontiguous(x: torch.Tensor) -> torch.Tensor:
    """The same values as ``x`` in a non-contiguous layout (every other column of a wider tensor)."""
    wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device)
    wide[..., ::2] = x
    view = wide[..., ::2]
    assert not view.is_contiguous()
    torch.testing.assert_close(view, x, rtol=0, atol=0, equal_nan=True)
    return view


def leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_()


def grads(fn, *inputs: torch.Tensor, weight: torch.Tensor | None = None):
    """Output of fn(*inputs) and the gradients of sum(output * weight) w.r.t. the inputs."""
    out = fn(*inputs)
    weight = torch.randn_like(out.float()) if weight is None else weight
    (out.float() * weight).sum().backward()
    return out, [i.grad for i in inputs], weight

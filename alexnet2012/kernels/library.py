"""What the kernel family modules share: the library's build on first use, and fake-tensor helpers.

The C++ library (csrc/, ``build.py``) defines each op's schema and its CPU and
CUDA implementations; each family module (lrn.py, maxpool.py, ...) registers,
in its ``register_fake_and_autograd()``, the Python side: fake (meta)
implementations, so the ops trace under ``torch.compile`` and pass
``torch.library.opcheck``, and autograd formulas. Those registrations need the
schemas, so they wait for the build: ``ensure_built()`` builds (or loads) the
library, then runs every family's registration, once per process. Every public
op function and every custom layer's constructor calls it; importing builds
nothing.
"""

from __future__ import annotations

import importlib
import threading

import torch

from . import build

OPS = torch.ops.repro_alexnet  # op handles resolve once the library is loaded: call ensure_built() first

_built = False
_lock = threading.RLock()


def ensure_built() -> bool:
    """Build (or load from the cache) the library, then register every family's fakes and autograd; once.

    Returns True (a constant, so that torch.compile runs it eagerly at trace time
    even when compiling is the ops' first use)."""
    global _built
    if _built:
        return True
    with _lock:
        if not _built:
            build.build()
            for family in build.FAMILIES:
                importlib.import_module(f"{__package__}.{family}").register_fake_and_autograd()
            _built = True
    return True


# What torch.compiler.assume_constant_result(ensure_built) does, without importing torch._dynamo here
# (seconds, at every import of the ops seam): torch.compile runs the function eagerly while tracing and
# takes its result as a constant, so compiling can be the ops' first use (test_build.py checks it).
ensure_built._dynamo_marked_constant = True


def is_built() -> bool:
    """Whether this process has built (or loaded) the library and registered its Python side."""
    return _built


def fake_like(x: torch.Tensor, dtype: torch.dtype | None = None, shape=None) -> torch.Tensor:
    """A fake op output: the kernels write fresh contiguous tensors, whatever the input's strides."""
    return x.new_empty(x.shape if shape is None else shape, dtype=dtype or x.dtype)


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output size of a window sliding over a padded axis (pooling and convolution alike)."""
    return (size + 2 * padding - kernel) // stride + 1


def no_double_backward(*names: str) -> None:
    """Make the backward ops ``names`` raise when differentiated (without a formula autograd
    would only warn and return wrong, zero, gradients)."""
    for name in names:
        torch.library.register_autograd(f"repro_alexnet::{name}", _raise_on_backward(name))


def _raise_on_backward(name: str):
    def backward(ctx, *grads):
        raise RuntimeError(f"repro_alexnet::{name}: gradients of gradients (double backward) are not implemented")

    return backward

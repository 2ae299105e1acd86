"""Inverted dropout with a counter-based (Philox4x32-10) mask: the kernel
repro_alexnet::dropout (csrc/dropout.cuh, dropout.cu, dropout_ops.cpp) with its fake,
its autograd, its reference and its layer; and repro_alexnet::philox4x32_10, the
generator itself, for the known-answer test.

The mask is a pure function of (seed, element index): no mask is stored, the
backward is the same op applied to the gradient. The reference recomputes the
kernels' Philox stream in int64 tensor arithmetic, so even the mask is checked.
"""

from __future__ import annotations

import torch
from torch import nn

from .library import OPS, ensure_built, fake_like

MASK32 = 0xFFFFFFFF
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85

# ----------------------------------------------------------------------------- public functions


def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """Inverted dropout whose mask is a pure function of (seed, element index)."""
    ensure_built()
    return OPS.dropout(x, p, seed)


def philox4x32_10(counter: tuple[int, int, int, int], key: tuple[int, int]) -> list[int]:
    """The kernels' Philox4x32-10 block function (for the known-answer test)."""
    ensure_built()
    return [v & MASK32 for v in OPS.philox4x32_10(*counter, *key)]


# ----------------------------------------------------------------------------- reference


def _mul_hi_lo(a: torch.Tensor, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit halves of a * b for 32-bit a (int64 tensor) and b, without overflow."""
    ah, al = a >> 16, a & 0xFFFF
    bh, bl = b >> 16, b & 0xFFFF
    low_product = al * bl
    middle = ah * bl + al * bh + (low_product >> 16)
    hi = ah * bh + (middle >> 16)
    lo = ((middle & 0xFFFF) << 16) | (low_product & 0xFFFF)
    return hi & MASK32, lo & MASK32


def philox4x32_10_reference(counter: list[torch.Tensor], key: tuple[int, int]) -> list[torch.Tensor]:
    """Philox4x32-10 on int64 tensors holding uint32 values (Salmon et al. 2011)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + _W0) & MASK32, (k1 + _W1) & MASK32
        hi0, lo0 = _mul_hi_lo(c0, _M0)
        hi1, lo1 = _mul_hi_lo(c2, _M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return [c0, c1, c2, c3]


def dropout_keep_mask(numel: int, p: float, seed: int) -> torch.Tensor:
    """The kernels' keep mask of elements 0..numel-1 (contiguous order) for ``seed``."""
    seed &= (1 << 64) - 1
    quads = torch.arange((numel + 3) // 4, dtype=torch.int64)
    zeros = torch.zeros_like(quads)
    bits = philox4x32_10_reference([quads & MASK32, quads >> 32, zeros, zeros], (seed & MASK32, seed >> 32))
    u = torch.stack(bits, dim=1).reshape(-1)[:numel] >> 8
    # u / 2^24 >= p, compared exactly as the kernel does it in fp32.
    return (u.to(torch.float32) * (1.0 / 16777216.0)) >= torch.tensor(p, dtype=torch.float32)


def dropout_reference(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    keep = dropout_keep_mask(x.numel(), p, seed).view(x.shape).to(x.device)
    # The kernel's scale, 1 / (1 - p) in fp32 arithmetic, applied in fp32 before rounding to x's dtype.
    p32 = torch.tensor(p, dtype=torch.float32)
    scale = 1.0 / (1.0 - p32) if p < 1.0 else torch.tensor(0.0)
    return (x.float() * torch.where(keep, scale.to(x.device), 0.0)).to(x.dtype)


# ----------------------------------------------------------------------------- fake and autograd


def _fake(x, p, seed):
    return fake_like(x)


def _setup(ctx, inputs, output):
    ctx.args = (inputs[1], inputs[2])


def _backward(ctx, grad_y):
    # The mask is a pure function of (seed, index): regenerate it on the gradient.
    return OPS.dropout(grad_y, *ctx.args), None, None


def register_fake_and_autograd() -> None:
    """Called once by ``library.ensure_built()``, after the build has defined the ops."""
    torch.library.register_fake("repro_alexnet::dropout", _fake)
    torch.library.register_autograd("repro_alexnet::dropout", _backward, setup_context=_setup)


# ----------------------------------------------------------------------------- layer (model.ops.dropout=custom)


class Dropout(nn.Module):
    """Inverted dropout with a counter-based mask (the torch layer is nn.Dropout; neither has state).

    Each call draws a 63-bit seed from torch's default (CPU) generator, so a run
    seeded with ``torch.manual_seed`` repeats its masks, and the loop's
    checkpoints (which save that generator) resume them exactly. The draw is a
    Python int: under ``torch.compile`` it is a graph break, not a recompile.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        ensure_built()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        seed = int(torch.randint(0, 2**63 - 1, ()))
        return dropout(x, self.p, seed)

    def extra_repr(self) -> str:
        return f"p={self.p}"

"""Plain-PyTorch references of the hand-written kernels, for the tests and the bench.

Each function computes what the matching op in ``ops.py`` computes, with
standard PyTorch ops (autograd gives their gradients), so a test can compare
values and gradients on any shape. Dropout's reference recomputes the kernels'
Philox4x32-10 stream in int64 tensor arithmetic, so even the mask is checked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alexnet2012.ops.torch_ops import LocalResponseNorm

MASK32 = 0xFFFFFFFF
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: int = 0, groups: int = 1, relu: bool = False) -> torch.Tensor:
    y = F.conv2d(x, weight, None if bias is None else bias.to(x.dtype), stride, padding, 1, groups)
    return F.relu(y) if relu else y


def lrn(x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
        groups: int = 1) -> torch.Tensor:
    """The paper's LRN (alpha times the sum of squares) through torch's own LRN."""
    return LocalResponseNorm(size, alpha, beta, k, groups)(x)


def max_pool(x: torch.Tensor, kernel_size: int = 3, stride: int = 2, padding: int = 0) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size, stride, padding)


def bias_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.relu(x + bias.to(x.dtype).view(shape))


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels)


def _mul_hi_lo(a: torch.Tensor, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit halves of a * b for 32-bit a (int64 tensor) and b, without overflow."""
    ah, al = a >> 16, a & 0xFFFF
    bh, bl = b >> 16, b & 0xFFFF
    low_product = al * bl
    middle = ah * bl + al * bh + (low_product >> 16)
    hi = ah * bh + (middle >> 16)
    lo = ((middle & 0xFFFF) << 16) | (low_product & 0xFFFF)
    return hi & MASK32, lo & MASK32


def philox4x32_10(counter: list[torch.Tensor], key: tuple[int, int]) -> list[torch.Tensor]:
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
    bits = philox4x32_10([quads & MASK32, quads >> 32, zeros, zeros], (seed & MASK32, seed >> 32))
    u = torch.stack(bits, dim=1).reshape(-1)[:numel] >> 8
    # u / 2^24 >= p, compared exactly as the kernel does it in fp32.
    return (u.to(torch.float32) * (1.0 / 16777216.0)) >= torch.tensor(p, dtype=torch.float32)


def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    keep = dropout_keep_mask(x.numel(), p, seed).view(x.shape).to(x.device)
    # The kernel's scale, 1 / (1 - p) in fp32 arithmetic, applied in fp32 before rounding to x's dtype.
    p32 = torch.tensor(p, dtype=torch.float32)
    scale = 1.0 / (1.0 - p32) if p < 1.0 else torch.tensor(0.0)
    return (x.float() * torch.where(keep, scale.to(x.device), 0.0)).to(x.dtype)

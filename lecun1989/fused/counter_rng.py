"""Randomness a fused run owns: counter-based draws keyed by (seed, pass, step).

Every draw is a hash of its coordinates (splitmix64's finaliser, Steele, Lea &
Flood 2014), not the next value of a stateful generator, so a fused run is a
pure function of its config and seed: the draws do not depend on how the steps
are chunked, on resuming, or on anything else that touched torch's global RNG.
`net1989_cpu.cpp` computes the dropout masks with the same function in C++
(`mix64`, `step_key`, `uniform`; tested equal); the shifts of `augment_shift`
are drawn here, for a whole chunk at once, and the eager replay
(reference.py) reads both from here.
"""

from __future__ import annotations

import numpy as np
import torch

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
# Streams: one per kind of draw, so the dropout and shift draws of a step are independent.
STREAM_DROPOUT = 0x64726F706F7574  # "dropout" (as in the C++)
STREAM_SHIFT = 0x7368696674  # "shift"


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function on uint64 arrays (wrapping arithmetic, as in C++)."""
    z = np.asarray(z, dtype=np.uint64) + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


def step_keys(seed: int, stream: int, pass_: int, steps: np.ndarray) -> np.ndarray:
    """The key of each step of ``steps`` in pass ``pass_`` (uint64 array)."""
    with np.errstate(over="ignore"):
        head = mix64(mix64(np.array([(seed % 2**64) ^ stream], dtype=np.uint64)) + np.uint64(pass_))
        return mix64(head + np.asarray(steps, dtype=np.uint64))


def uniforms(keys: np.ndarray, n: int) -> np.ndarray:
    """[len(keys), n] floats in [0, 1) on a 2^-24 grid: uniform(key, i) of the C++."""
    with np.errstate(over="ignore"):
        bits = mix64(keys[:, None] + np.arange(n, dtype=np.uint64)[None, :])
    return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def dropout_masks(seed: int, pass_: int, steps: np.ndarray, n: int, p: float) -> torch.Tensor:
    """[len(steps), n] float32 masks, 0 or 1/(1-p), exactly those the fused kernel applies
    (keep where the uniform is >= p, as the C++ does)."""
    u = uniforms(step_keys(seed, STREAM_DROPOUT, pass_, steps), n)
    scale = np.float32(1.0) / np.float32(1.0 - p)
    return torch.from_numpy(np.where(u >= np.float32(p), scale, np.float32(0.0)).astype(np.float32))


def shifts(seed: int, pass_: int, steps: np.ndarray, shift: int) -> torch.Tensor:
    """[len(steps), 2] integer shifts (dy, dx), each uniform in [-shift, shift]:
    the top 32 bits of a draw times 2*shift+1, high word (no modulo bias worth naming)."""
    keys = step_keys(seed, STREAM_SHIFT, pass_, steps)
    with np.errstate(over="ignore"):
        bits = mix64(keys[:, None] + np.arange(2, dtype=np.uint64)[None, :])
    d = ((bits >> np.uint64(32)) * np.uint64(2 * shift + 1)) >> np.uint64(32)
    return torch.from_numpy(d.astype(np.int64) - shift)


def apply_shifts(x: torch.Tensor, d: torch.Tensor, fill: float = -1.0, wrap: bool = False) -> torch.Tensor:
    """Translate each image of ``x`` [B, C, H, W] by its (dy, dx) row of ``d`` [B, 2]:
    ``out[b, :, i, j] = x[b, :, i - dy, j - dx]`` (lecun1989.augment.random_shift with given draws)."""
    from ..augment import shift_by

    return shift_by(x, d, fill, wrap)


__all__ = ["STREAM_DROPOUT", "STREAM_SHIFT", "apply_shifts", "dropout_masks", "mix64", "shifts", "step_keys",
           "uniforms"]

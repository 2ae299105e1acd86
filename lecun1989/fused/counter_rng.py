"""Randomness a fused run owns: counter-based draws keyed by (seed, pass, step).

Every draw is a hash of its coordinates (splitmix64's finaliser, Steele, Lea &
Flood 2014), not the next value of a stateful generator, so a fused run is a
pure function of its config and seed: the draws do not depend on how the steps
are chunked, on resuming, or on anything else that touched torch's global RNG.
`csrc/net1989_rng.h` (the CPU and CUDA kernels) computes the dropout masks with the same function
(`mix64`, `step_key`, `uniform`; tested equal); the shifts of `augment_shift`
and the distortions of `augment_distort` are drawn here, for a whole chunk at
once, and the eager replay (reference.py) reads them all from here.
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
STREAM_AFFINE = 0x6166666E  # "affn"
STREAM_ELASTIC = 0x656C6173  # "elas"
# The elastic noise (2 x 16 x 16 uniforms per image) is drawn by torch's generator in blocks
# of this many steps, the generator seeded from the block's key: hashing every uniform in
# numpy cost ~0.4 s a pass. Still a pure function of (seed, pass, step), whatever the chunks.
ELASTIC_BLOCK = 64


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


def affine_uniforms(seed: int, pass_: int, steps: np.ndarray) -> torch.Tensor:
    """[len(steps), 4] uniforms in [0, 1) behind each step's affine distortion (augment.distort)."""
    return torch.from_numpy(uniforms(step_keys(seed, STREAM_AFFINE, pass_, steps), 4))


def elastic_noise(seed: int, pass_: int, steps: np.ndarray, h: int, w: int) -> torch.Tensor:
    """[len(steps), 2, h, w] uniforms in [-1, 1): each step's elastic noise, row ``step % ELASTIC_BLOCK``
    of its block's draw from a torch generator seeded by the block's key."""
    steps = np.asarray(steps, dtype=np.uint64)
    out = torch.empty(len(steps), 2, h, w)
    blocks = steps // np.uint64(ELASTIC_BLOCK)
    for block in np.unique(blocks):
        key = int(step_keys(seed, STREAM_ELASTIC, pass_, np.array([block], dtype=np.uint64))[0])
        g = torch.Generator().manual_seed(key >> 1)  # manual_seed takes < 2^63
        draw = torch.rand(ELASTIC_BLOCK, 2, h, w, generator=g) * 2 - 1
        rows = np.nonzero(blocks == block)[0]
        out[torch.from_numpy(rows)] = draw[torch.from_numpy((steps[rows] % np.uint64(ELASTIC_BLOCK)).astype(np.int64))]
    return out


def augment(xs: torch.Tensor, cfg, seed: int, pass_: int, steps: np.ndarray) -> torch.Tensor:
    """The fused run's augmentation of steps ``steps``' examples ``xs`` with its own draws: the
    distortions (if any), then the shifts (if any), as lecun1989.augment.augment_batch does
    with torch's global RNG. ``cfg``: an AugmentConfig."""
    from ..augment import distort, shift_by

    if cfg.distort_active:
        noise = elastic_noise(seed, pass_, steps, *xs.shape[-2:]) if cfg.elastic_alpha else None
        xs = distort(xs, affine_uniforms(seed, pass_, steps), noise, cfg)
    if cfg.shift_active:
        xs = shift_by(xs, shifts(seed, pass_, steps, cfg.shift), cfg.fill, cfg.wrap)
    return xs


def apply_shifts(x: torch.Tensor, d: torch.Tensor, fill: float = -1.0, wrap: bool = False) -> torch.Tensor:
    """Translate each image of ``x`` [B, C, H, W] by its (dy, dx) row of ``d`` [B, 2]:
    ``out[b, :, i, j] = x[b, :, i - dy, j - dx]`` (lecun1989.augment.random_shift with given draws)."""
    from ..augment import shift_by

    return shift_by(x, d, fill, wrap)


__all__ = ["ELASTIC_BLOCK", "STREAM_AFFINE", "STREAM_DROPOUT", "STREAM_ELASTIC", "STREAM_SHIFT", "affine_uniforms",
           "apply_shifts", "augment", "dropout_masks", "elastic_noise", "mix64", "shifts", "step_keys", "uniforms"]

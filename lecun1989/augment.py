"""Training-time random shifts of the digits (trick augment_shift; the 1989 paper trains on the digits as they are).

On the eager backend the draws come from the global torch RNG, which the
training loop seeds and checkpoints, so an augmented run is repeatable and
resumes exactly; the fused backend draws them from its counter-based generator
keyed by (seed, pass, step) (fused/counter_rng.py) and shifts with `shift_by`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AugmentConfig:
    # Random translation of every training image by an integer number of pixels
    # in [-shift, shift], drawn independently per image and per axis. 0 = off
    # (the 1989 paper trains on the digits as they are).
    shift: int = 0
    # wrap=false fills the uncovered border with `fill` (the background, -1 for
    # the digits); wrap=true rolls pixels around the edge, as Karpathy's
    # modern.py does with torch.roll.
    wrap: bool = False
    fill: float = -1.0

    def validate(self) -> None:
        if self.shift < 0:
            raise ValueError("shift must be >= 0")

    @property
    def active(self) -> bool:
        return self.shift > 0


def random_shift(x: torch.Tensor, shift: int, fill: float = -1.0, wrap: bool = False) -> torch.Tensor:
    """Translate each image of ``x`` [B, C, H, W] by its own (dy, dx) in
    [-shift, shift]^2: ``out[b, :, i, j] = x[b, :, i - dy, j - dx]``."""
    if shift == 0:
        return x
    d = torch.randint(-shift, shift + 1, (x.shape[0], 2), device=x.device)
    return shift_by(x, d, fill, wrap)


def shift_by(x: torch.Tensor, d: torch.Tensor, fill: float = -1.0, wrap: bool = False) -> torch.Tensor:
    """Translate each image of ``x`` [B, C, H, W] by the given (dy, dx) row of ``d`` [B, 2]
    (the fused backend draws them from its counter-based generator: fused/counter_rng.py)."""
    b, _, h, w = x.shape
    shift = int(d.abs().max()) if d.numel() else 0
    if shift == 0:
        return x
    d = d.to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] - d[:, :1]  # [B, H] source row of each output row
    cols = torch.arange(w, device=x.device)[None, :] - d[:, 1:]
    if wrap:
        rows, cols = rows % h, cols % w
        src = x
    else:
        src = torch.nn.functional.pad(x, (shift, shift, shift, shift), value=fill)
        rows, cols = rows + shift, cols + shift
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indexing on (batch, row, col) with the channel axis kept: [B, H, W, C] -> [B, C, H, W].
    out = src.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()

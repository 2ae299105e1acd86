"""Training-time random shifts of the digits (trick augment_shift; the 1989 paper trains on the digits as they are).

Draws come from the global torch RNG, which the training loop seeds and
checkpoints, so an augmented run is repeatable and resumes exactly.
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
    b, _, h, w = x.shape
    d = torch.randint(-shift, shift + 1, (b, 2), device=x.device)
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

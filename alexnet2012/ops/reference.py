"""Direct, slow transcriptions of the paper's formulas, for tests only."""

from __future__ import annotations

import torch


def lrn_reference(a: torch.Tensor, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                  groups: int = 1) -> torch.Tensor:
    """Section 3.3 term by term: an explicit loop over channels i and neighbours j.

    With ``groups`` towers, N is the tower's channel count and j stays inside
    the tower of channel i.
    """
    channels = a.shape[1]
    per_tower = channels // groups
    out = []
    for i in range(channels):
        first = (i // per_tower) * per_tower
        last = first + per_tower - 1
        total = torch.zeros_like(a[:, i])
        for j in range(max(first, i - n // 2), min(last, i + n // 2) + 1):
            total = total + a[:, j] ** 2
        out.append(a[:, i] / (k + alpha * total) ** beta)
    return torch.stack(out, dim=1)

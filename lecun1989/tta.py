"""Test-time augmentation, issue 21's own column: each digit is classified from the mean of
the network's outputs over nine views of it, the digit itself and its eight one-pixel shifts
(the background fills the uncovered border, as `augment_shift` does in training). Softmax
nets (loss=ce) average probabilities, the 1989 nets (MSE to +-1) their output units.

Not in 1989: the paper classifies each digit from one forward pass. The nine views are fixed in
advance (the training shifts of Karpathy's augmentation), not chosen on any split. Every
finished run records it beside its plain errors (`tta` in metrics.json), for the splits it
evaluates other than the training digits; the tables show it only in its own column.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .augment import shift_by

SHIFTS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
DESCRIPTION = "mean output over the digit and its 8 one-pixel shifts (background-filled)"


@torch.no_grad()
def tta_predict(model: torch.nn.Module, x: torch.Tensor, loss: str, fill: float = -1.0,
                batch_size: int = 2048) -> torch.Tensor:
    """The class of each digit of ``x`` [N, 1, 16, 16] from the mean over the nine views."""
    was_training = model.training
    model.eval()
    try:
        preds = []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            total = None
            for dy, dx in SHIFTS:
                d = torch.tensor([[dy, dx]], device=xb.device).expand(len(xb), 2)
                out = model(shift_by(xb, d, fill))
                out = out.softmax(1) if loss == "ce" else out
                total = out if total is None else total + out
            preds.append(total.argmax(1))
        return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)
    finally:
        model.train(was_training)


def tta_record(model: torch.nn.Module, splits: Mapping[str, tuple[torch.Tensor, torch.Tensor]], loss: str,
               fill: float = -1.0) -> dict:
    """metrics.json's `tta`: per split, error % and misses with the nine views."""
    out: dict = {"views": DESCRIPTION}
    for name, (x, y) in splits.items():
        wrong = int((tta_predict(model, x, loss, fill) != y).sum())
        out[name] = {"error": 100.0 * wrong / len(y), "misses": wrong}
    return {"tta": out}

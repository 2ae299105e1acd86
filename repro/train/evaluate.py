"""Loss, error rate and integer miss count of a model on one split."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class EvalResult:
    loss: float
    error: float  # percent
    misses: int
    n: int
    # Further metrics an era reports per split (AlexNet: top5_error, the
    # 10-crop errors...), in percent where they are rates.
    extra: Mapping[str, float] = field(default_factory=dict)

    def line(self, split: str) -> str:
        # The format of Karpathy's repro, so logs can be compared line by line.
        line = f"eval: split {split:<5}. loss {self.loss:e}. error {self.error:.2f}%. misses: {self.misses}"
        return line + "".join(f". {k} {v:.2f}" for k, v in self.extra.items())

    def as_dict(self) -> dict[str, float | int]:
        return {"loss": self.loss, "error": self.error, "misses": self.misses, "n": self.n, **self.extra}


# An evaluation an era defines itself (its own data pipeline, several crops):
# called with the model, returns the split's result.
Evaluator = Callable[[nn.Module], EvalResult]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int = 2048,
    predict: Callable[[torch.Tensor], torch.Tensor] = lambda out: out.argmax(1),
) -> EvalResult:
    """Evaluate on the whole split: the loss is the mean of per-batch means
    weighted by batch size (so it equals the full-batch mean); misses are
    counted as integers, never recovered from a rounded rate."""
    was_training = model.training
    model.eval()
    try:
        batches = ((model(x[a : a + batch_size]), y[a : a + batch_size]) for a in range(0, x.shape[0], batch_size))
        return score(batches, loss_fn, predict)
    finally:
        model.train(was_training)


def score(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    predict: Callable[[torch.Tensor], torch.Tensor] = lambda out: out.argmax(1),
) -> EvalResult:
    """The split's result from its (outputs, labels) batches: the loss is the mean of
    per-batch means weighted by batch size, misses are counted as integers. Shared by
    `evaluate` and by eras that compute the outputs their own way (lecun1989's fused forward)."""
    total_loss, misses, n = 0.0, 0, 0
    for out, yb in batches:
        total_loss += float(loss_fn(out, yb)) * yb.shape[0]
        misses += int((predict(out) != yb).sum())
        n += yb.shape[0]
    return EvalResult(loss=total_loss / n, error=100.0 * misses / n, misses=misses, n=n)

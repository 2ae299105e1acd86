"""Top-1 and top-5 error, from the centre crop or the paper's ten crops.

Paper (section 4.1): "At test time, the network makes a prediction by
extracting five 224x224 patches (the four corner patches and the center
patch) as well as their horizontal reflections (hence ten patches in all),
and averaging the predictions made by the network's softmax layer on the ten
patches." The 1-crop numbers use the centre patch alone. Under torchrun each
process evaluates its share of the images and the counts are summed, so the
result is the same for any number of processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from repro.train.distributed import all_reduce_sum, current_world
from repro.train.evaluate import EvalResult, Evaluator

from .augment import AugmentConfig, average_softmax, center_batch, ten_crop_batch
from .loader import batches
from .stats import ImageStats

Crops = Literal["center", "ten"]


def topk_misses(scores: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    """How many labels are not among the k highest scores (ties: torch.topk's order)."""
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return int((top != labels[:, None]).all(dim=1).sum())


def make_evaluator(
    dataset,
    indices: torch.Tensor,
    stats: ImageStats,
    augment: AugmentConfig,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    crops: Crops,
    batch_size: int,
    device: str,
    workers: int = 0,
    pin_memory: bool = False,
) -> Evaluator:
    """An evaluator for the shared loop: loss and top-1 error ("error") with
    top-5 error as an extra, from the centre crop or the ten crops."""
    @torch.no_grad()
    def run(model: nn.Module) -> EvalResult:
        world = current_world()
        mine = indices[world.rank :: world.size]  # this process's share
        was_training = model.training
        model.eval()
        loss_sum, miss1, miss5, n = 0.0, 0, 0, 0
        try:
            for x, y in batches(dataset, mine, batch_size, workers=workers, pin_memory=pin_memory):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if crops == "center":
                    logits = model(center_batch(x, stats, augment))
                    scores = logits
                    loss_sum += float(loss_fn(logits, y)) * len(y)
                else:
                    views = ten_crop_batch(x, stats, augment)  # (10, N, 3, c, c)
                    # One view at a time: ten crops of a batch at once would take 10x the memory.
                    scores = average_softmax(torch.stack([model(view) for view in views]))
                    # The loss of the averaged prediction (negative log of its probability).
                    picked = scores.gather(1, y[:, None]).clamp_min(1e-12)
                    loss_sum += float(-picked.log().sum())
                miss1 += topk_misses(scores, y, 1)
                miss5 += topk_misses(scores, y, 5)
                n += len(y)
        finally:
            model.train(was_training)
        loss_sum, miss1, miss5, n = all_reduce_sum([loss_sum, miss1, miss5, n], device)
        miss1, n = int(miss1), int(n)
        if n == 0:
            raise ValueError("evaluation saw no images")
        return EvalResult(
            loss=loss_sum / n, error=100.0 * miss1 / n, misses=miss1, n=n, extra={"top5_error": 100.0 * miss5 / n}
        )

    return run

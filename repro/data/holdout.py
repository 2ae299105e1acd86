"""A validation split carved from the training data (`data.val_size`), so that
choices (a learning rate, a sweep's objective) are made without a look at the
test set.

The split is stratified (each class keeps its share of the training set, to
within one example) and fixed by its own seed (`data.val_seed`), apart from the
run's seed: every seed of a sweep, and every configuration, holds out the same
examples. Both parts keep the order the examples had in the training set (the
1989 runs' `order: file` then visits the remaining digits in file order).
"""

from __future__ import annotations

import torch

from .errors import DataError


def stratified_holdout(labels: torch.Tensor, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (kept for training, held out) into ``labels``, each sorted; ``size``
    examples held out, each class's share rounded by largest remainder."""
    labels = torch.as_tensor(labels).long()
    n = labels.numel()
    if not 0 < size < n:
        raise DataError(f"data.val_size={size}: hold out between 1 and {n - 1} of the {n} training examples "
                        "(0 = no validation split)")
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * size / n
    take = exact.floor().long()
    # Largest remainders first; ties go to the lower class, so the split is a pure function of (labels, size, seed).
    short = size - int(take.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - take[i]).item(), i))
    for i in order[:short]:
        take[i] += 1
    generator = torch.Generator().manual_seed(seed)
    held = []
    for cls, k in zip(classes.tolist(), take.tolist()):
        members = torch.nonzero(labels == cls).flatten()
        held.append(members[torch.randperm(len(members), generator=generator)[:k]])
    held_idx = torch.cat(held).sort().values if held else torch.empty(0, dtype=torch.long)
    mask = torch.ones(n, dtype=torch.bool)
    mask[held_idx] = False
    return torch.nonzero(mask).flatten(), held_idx

"""What a finished 1989 run keeps for the report beside its metrics: the final
weights (`model.pt`, for the H1 kernel plot) and the test digits it still gets
wrong (`misclassified.npz`, for the error grid). Both small, both written
atomically before metrics.json, so a complete record always has them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from repro.train.atomic import save_torch_atomic, write_atomic

MODEL = "model.pt"
MISCLASSIFIED = "misclassified.npz"


@torch.no_grad()
def misclassified(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> dict[str, np.ndarray]:
    was_training = model.training
    model.eval()
    try:
        pred = torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(y), batch_size)])
    finally:
        model.train(was_training)
    wrong = (pred != y).nonzero().flatten().cpu()
    images = x[wrong.to(x.device)].cpu().squeeze(1)
    return {
        "index": wrong.numpy().astype(np.int32),
        "label": y.cpu()[wrong].numpy().astype(np.int8),
        "pred": pred.cpu()[wrong].numpy().astype(np.int8),
        # [-1, 1] -> 0..255: enough for a picture, a quarter of the bytes.
        "image_u8": ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy(),
    }


def save_artifacts(run_path: Path, model: torch.nn.Module, x_test: torch.Tensor | None = None,
                   y_test: torch.Tensor | None = None) -> dict:
    """model.pt, and misclassified.npz when given the test digits (not for data.evaluate_test=false)."""
    run_path = Path(run_path)
    save_torch_atomic(run_path / MODEL, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    if x_test is None or y_test is None:
        return {"artifacts": {"model": MODEL}}
    wrong = misclassified(model, x_test, y_test)

    def write(f):
        buf = io.BytesIO()
        np.savez_compressed(buf, **wrong)
        f.write(buf.getvalue())

    write_atomic(run_path / MISCLASSIFIED, write)
    return {"artifacts": {"model": MODEL, "misclassified": MISCLASSIFIED}}

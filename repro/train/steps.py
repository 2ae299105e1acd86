"""The eager stepper: one PyTorch forward, backward and update per batch (the reference)."""

from __future__ import annotations

import torch
from torch import nn

from .task import TrainTask


class EagerStepper:
    def __init__(self, task: TrainTask, model: nn.Module, device: torch.device, precision: str = "fp32"):
        self.task, self.model, self.device = task, model, device
        self.autocast = precision == "bf16"

    def chunk_end(self, step: int, steps_per_epoch: int, global_step: int) -> int:  # noqa: ARG002
        return step + 1

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        """Returns loss * batch size."""
        task = self.task
        # No-ops for in-memory data; streamed batches arrive (pinned) on the CPU.
        xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        if task.batch_transform is not None:
            xb = task.batch_transform(xb)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            loss = task.loss_fn(self.model(xb), yb)
        task.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        task.optimizer.step()
        return loss.item() * yb.shape[0]

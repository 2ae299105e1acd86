"""The 1989 trainer's fused backends as steppers of the shared loop (`TrainTask.stepper`).

Both run exactly the eager algorithm (per-example SGD, MSE to +-1 targets, the
paper's network) on the model's own parameter tensors, in place. They support
what the paper did, nothing more; anything else is refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from repro.config import ConfigError

from ..model import Net1989

BACKENDS = ("eager", "fused_cpu", "cuda_persistent")
# "auto" picks the fused backend of the model's device when it supports the
# recipe, else eager: the same algorithm either way (see lecun1989/README.md, fast backends).
CHOICES = ("auto", *BACKENDS)
# activation name -> (amplitude, slope) of amp * tanh(slope * a)
SQUASH = {"tanh": (1.0, 1.0), "scaled_tanh": (1.7159, 2.0 / 3.0)}


def unsupported(model: Net1989, optimizer: torch.optim.Optimizer, loss: str, batch_size: int) -> list[str]:
    """What keeps a fused backend from running this recipe (empty: nothing)."""
    cfg = model.cfg
    problems = []
    if cfg.activation not in SQUASH:
        problems.append(f"model.activation={cfg.activation} (fused: {', '.join(SQUASH)})")
    if cfg.effective_output_activation not in SQUASH:
        problems.append(f"model.output_activation={cfg.effective_output_activation} (fused: {', '.join(SQUASH)})")
    if cfg.dropout:
        problems.append(f"model.dropout={cfg.dropout} (fused: 0)")
    if cfg.norm != "none":
        problems.append(f"model.norm={cfg.norm} (fused: none)")
    if loss != "mse":
        problems.append(f"loss={loss} (fused: mse)")
    if batch_size != 1:
        problems.append(f"trainer.batch_size={batch_size} (fused: 1)")
    groups = optimizer.param_groups
    if type(optimizer) is not torch.optim.SGD or len(groups) != 1:
        problems.append(f"optimizer {type(optimizer).__name__} (fused: plain SGD)")
    elif groups[0]["momentum"] or groups[0]["weight_decay"] or groups[0]["nesterov"]:
        problems.append("SGD momentum/weight decay (fused: plain SGD)")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        problems.append("parameters not float32")
    return problems


def resolve_backend(
    backend: str, model: Net1989, optimizer: torch.optim.Optimizer, loss: str, batch_size: int
) -> str:
    if backend not in CHOICES:
        raise ConfigError(f"trainer.backend={backend!r}: choose one of {', '.join(CHOICES)}")
    if backend != "auto":
        return backend
    device = next(model.parameters()).device.type
    if unsupported(model, optimizer, loss, batch_size):
        return "eager"
    return {"cpu": "fused_cpu", "cuda": "cuda_persistent"}.get(device, "eager")


def fused_steps(
    backend: str, model: Net1989, optimizer: torch.optim.Optimizer, loss: str, batch_size: int
) -> Callable[[torch.Tensor, torch.Tensor], float] | None:
    """The fused step function for `backend`, or None for the eager loop."""
    if backend not in BACKENDS:
        raise ConfigError(f"trainer.backend={backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "eager":
        return None
    problems = unsupported(model, optimizer, loss, batch_size)
    if problems:
        raise ConfigError(f"trainer.backend={backend} runs the paper's recipe only; not supported: " + "; ".join(problems))
    device = next(model.parameters()).device
    from . import build

    if backend == "fused_cpu":
        if device.type != "cpu":
            raise ConfigError(f"trainer.backend=fused_cpu needs trainer.device=cpu, the model is on {device}")
        ext = build.cpu_extension()
    else:
        if device.type != "cuda":
            raise ConfigError("trainer.backend=cuda_persistent needs trainer.device=cuda")
        ext = build.cuda_extension()
    params = [model.h1_w, model.h1_b, model.h2_w, model.h2_b, model.h3_w, model.h3_b, model.out_w, model.out_b]
    idx = model.h2_inputs.view(model.cfg.h2_maps, -1).to(torch.int32).contiguous()
    act = SQUASH[model.cfg.activation]
    out = SQUASH[model.cfg.effective_output_activation]
    pad = float(model.cfg.pad_value)

    def run(xs: torch.Tensor, ys: torch.Tensor) -> float:
        lr = float(optimizer.param_groups[0]["lr"])
        return ext.train_steps(xs.contiguous(), ys.contiguous(), idx, [p.data for p in params], lr, pad, *act, *out)

    return run


@dataclass
class FusedStepper:
    """Chunks of per-example steps in one kernel call each. Augmentation is
    drawn per image, independent of the weights, so it is applied to the whole
    chunk first (the draws differ from eager's, the distribution does not)."""

    steps: Callable[[torch.Tensor, torch.Tensor], float]  # from fused_steps
    batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    chunk_steps: int = 0  # trainer.fused_chunk_steps (0 = no limit)
    checkpoint_every_steps: int = 0

    def chunk_end(self, step: int, steps_per_epoch: int, global_step: int) -> int:
        """The chunk size, the next checkpoint boundary or the end of the pass, whichever comes first."""
        end = steps_per_epoch
        if self.chunk_steps:
            end = min(end, step + self.chunk_steps)
        if self.checkpoint_every_steps:
            end = min(end, step + self.checkpoint_every_steps - global_step % self.checkpoint_every_steps)
        return end

    def __call__(self, xs: torch.Tensor, ys: torch.Tensor) -> float:
        if self.batch_transform is not None:
            xs = self.batch_transform(xs)
        return self.steps(xs, ys)

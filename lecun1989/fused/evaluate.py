"""Evaluation through the fused CPU kernel's own forward (issue 22).

PyTorch evaluates the 1989 net's H2 layer as a grouped convolution, which its
CPU kernels run pathologically slowly at these shapes; `net1989_cpu.cpp`'s
`forward` computes the same outputs many examples at a time, vectorized
across examples. The loss and the misses are then computed from the outputs
by `repro.train.evaluate.score`, as for every other evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from repro.train.evaluate import EvalResult, Evaluator, score

from ..model import Net1989
from .stepper import SQUASH

PARAMS = ("h1_w", "h1_b", "h2_w", "h2_b", "h3_w", "h3_b", "out_w", "out_b")


def fused_outputs(model: Net1989, x: torch.Tensor) -> torch.Tensor:
    """The model's outputs [N, 10] for the digits ``x`` [N, 1, 16, 16], by the fused CPU forward
    (the same values as ``model(x)`` in eval mode, to float rounding; tested)."""
    from . import build

    cfg = model.cfg
    idx = model.h2_inputs.view(cfg.h2_maps, -1).to(torch.int32).contiguous()
    output = cfg.effective_output_activation
    out_act = (0.0, 0.0) if output == "none" else SQUASH[output]
    return build.cpu_extension().forward(
        x.contiguous(), idx, [getattr(model, k).detach() for k in PARAMS], float(cfg.pad_value),
        *SQUASH[cfg.activation], *out_act)


def fused_evaluator(
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int = 2048,
    predict: Callable[[torch.Tensor], torch.Tensor] = lambda out: out.argmax(1),
) -> Evaluator:
    """An Evaluator (`TrainTask.eval_sets`) of one split on the fused CPU forward, scored by
    `repro.train.evaluate.score` like every other evaluation, so the history columns mean the same."""
    x = x.float().contiguous()

    def evaluate(model: torch.nn.Module) -> EvalResult:
        with torch.no_grad():
            out = fused_outputs(model, x)  # type: ignore[arg-type]
            return score(((out[a : a + batch_size], y[a : a + batch_size]) for a in range(0, len(y), batch_size)),
                         loss_fn, predict)

    return evaluate


def supports(model: Net1989) -> bool:
    """Whether the fused forward computes this model (what `forward` implements: the
    squashing activations, no normalization; dropout is off at evaluation)."""
    cfg = model.cfg
    output = cfg.effective_output_activation
    return (cfg.activation in SQUASH and (output in SQUASH or output == "none")
            and cfg.norm == "none" and next(model.parameters()).device.type == "cpu"
            and all(getattr(model, k).dtype == torch.float32 for k in PARAMS))


__all__ = ["fused_evaluator", "fused_outputs", "supports"]

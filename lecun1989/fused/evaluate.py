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
from .stepper import ACT_CODES, PARAMS


def fused_outputs(model: Net1989, x: torch.Tensor, threads: int = 1) -> torch.Tensor:
    """The model's outputs [N, 10] for the digits ``x`` [N, 1, 16, 16], by the fused CPU forward
    on ``threads`` cores (the same values as ``model(x)`` in eval mode, to float rounding, for
    any number of threads; tested)."""
    from . import build

    cfg = model.cfg
    idx = model.h2_inputs.view(cfg.h2_maps, -1).to(torch.int32).contiguous()
    return build.cpu_extension().forward_ex(
        x.contiguous(), idx, [getattr(model, k).detach() for k in PARAMS], float(cfg.pad_value),
        *ACT_CODES[cfg.activation], *ACT_CODES[cfg.effective_output_activation], int(threads))


def fused_evaluator(
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int = 2048,
    predict: Callable[[torch.Tensor], torch.Tensor] = lambda out: out.argmax(1),
    threads: int = 1,
) -> Evaluator:
    """An Evaluator (`TrainTask.eval_sets`) of one split on the fused CPU forward, scored by
    `repro.train.evaluate.score` like every other evaluation, so the history columns mean the same."""
    x = x.float().contiguous()

    def evaluate(model: torch.nn.Module) -> EvalResult:
        with torch.no_grad():
            out = fused_outputs(model, x, threads)  # type: ignore[arg-type]
            return score(((out[a : a + batch_size], y[a : a + batch_size]) for a in range(0, len(y), batch_size)),
                         loss_fn, predict)

    return evaluate


def supports(model: Net1989) -> bool:
    """Whether the fused forward computes this model (what `forward_ex` implements: the
    squashing activations or ReLU, raw or squashed outputs, no normalization; dropout is
    off at evaluation)."""
    cfg = model.cfg
    return (cfg.activation in ACT_CODES and cfg.activation != "none"
            and cfg.effective_output_activation in ACT_CODES
            and cfg.norm == "none" and next(model.parameters()).device.type == "cpu"
            and all(getattr(model, k).dtype == torch.float32 for k in PARAMS))


__all__ = ["fused_evaluator", "fused_outputs", "supports"]

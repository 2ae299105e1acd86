"""The 1989 trainer's fused backends as steppers of the shared loop (`TrainTask.stepper`).

Both run exactly the eager algorithm (per-example steps on the model's own
parameter tensors, in place), with every per-example trick of the 1989 catalogue;
cuda_persistent runs the paper's recipe (MSE to +-1, squashing units, plain SGD) on
its original kernel and the tricks on train_steps_ex. The batched tricks (minibatch,
batchnorm, mixed_precision) stay eager; a fused backend refuses them, and anything
else it lacks, by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from repro.config import ConfigError

from ..augment import AugmentConfig
from ..model import Net1989
from ..sdlm import SDLM, sample_indices
from . import counter_rng

BACKENDS = ("eager", "fused_cpu", "cuda_persistent")
# "auto" picks the fused backend of the model's device when it supports the
# recipe, else eager: the same algorithm either way (see lecun1989/README.md, fast backends).
CHOICES = ("auto", *BACKENDS)
# activation name -> (amplitude, slope) of amp * tanh(slope * a)
SQUASH = {"tanh": (1.0, 1.0), "scaled_tanh": (1.7159, 2.0 / 3.0)}
# activation name -> (kind, amplitude, slope) as net1989_cpu.cpp's Act takes it: 0 squash, 1 relu, 2 identity
ACT_CODES = {**{k: (0, *v) for k, v in SQUASH.items()}, "relu": (1, 0.0, 0.0), "none": (2, 0.0, 0.0)}
# The batched tricks stay eager: what each sets, so a refusal names the trick.
BATCHED = {"trainer.batch_size": "minibatch", "model.norm": "batchnorm", "trainer.precision": "mixed_precision"}
PARAMS = ("h1_w", "h1_b", "h2_w", "h2_b", "h3_w", "h3_b", "out_w", "out_b")


def _batched_problems(model: Net1989, batch_size: int, precision: str) -> list[str]:
    problems = []
    if model.cfg.norm != "none":
        problems.append(f"model.norm={model.cfg.norm} (trick batchnorm; fused: none)")
    if batch_size != 1:
        problems.append(f"trainer.batch_size={batch_size} (trick minibatch; fused: per-example steps, 1)")
    if precision != "fp32":
        problems.append(f"trainer.precision={precision} (trick mixed_precision; fused: fp32)")
    return problems


def unsupported(model: Net1989, optimizer: torch.optim.Optimizer, loss: str, batch_size: int,
                backend: str = "fused_cpu", precision: str = "fp32") -> list[str]:
    """What keeps ``backend`` from running this recipe (empty: nothing).

    Both backends run every per-example trick of the 1989 catalogue (relu, softmax_ce,
    label_smoothing, dropout, augment_shift, adamw and the schedules, the inits,
    more_passes, more_data, wider: cuda_persistent through train_steps_ex, the same
    steps and dropout draws as the CPU's). Neither runs the batched tricks."""
    cfg = model.cfg
    problems = _batched_problems(model, batch_size, precision)
    if cfg.activation not in ACT_CODES or cfg.activation == "none":
        problems.append(f"model.activation={cfg.activation} (fused: tanh, scaled_tanh, relu)")
    if cfg.effective_output_activation not in ACT_CODES:
        problems.append(f"model.output_activation={cfg.effective_output_activation} (fused: {', '.join(ACT_CODES)})")
    if loss not in ("mse", "ce"):
        problems.append(f"loss={loss} (fused: mse, ce)")
    groups = optimizer.param_groups
    sgd = type(optimizer) is torch.optim.SGD
    adamw = type(optimizer) is torch.optim.AdamW
    if type(optimizer) is SDLM:
        # The C++ kernel runs the paper's optimizer; the CUDA kernel has no second-derivative pass yet.
        if backend == "cuda_persistent":
            problems.append("optim=sdlm (cuda_persistent: not implemented until a GPU session verifies it; "
                            "trainer.backend=fused_cpu or eager)")
    elif not (sgd or adamw) or len(groups) != 1:
        problems.append(f"optimizer {type(optimizer).__name__} with {len(groups)} parameter group(s) "
                        f"({backend}: plain SGD or AdamW, one group)")
    elif sgd and (groups[0]["momentum"] or groups[0]["weight_decay"] or groups[0]["nesterov"]):
        problems.append("SGD momentum/weight decay (fused: plain SGD)")
    elif adamw and (groups[0]["amsgrad"] or groups[0]["maximize"]):
        problems.append("AdamW amsgrad/maximize (fused: plain AdamW)")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        problems.append("parameters not float32")
    return problems


# The trick kernel of cuda_persistent (train_steps_ex) has compiled but never run on a GPU:
# until a GPU session has passed tests/lecun1989/test_fused_cuda_tricks.py (then set this to
# True), `auto` on a GPU takes it only for the paper's recipe (the original kernel, measured on
# an H100) and trains the tricks eager. trainer.backend=cuda_persistent asks for it explicitly.
CUDA_TRICKS_VERIFIED = False


def paper_recipe(model: Net1989, optimizer: torch.optim.Optimizer, loss: str) -> bool:
    """What the original persistent kernel (train_steps) runs: squashing units, MSE, plain SGD, no dropout."""
    cfg = model.cfg
    return (cfg.activation in SQUASH and cfg.effective_output_activation in SQUASH and loss == "mse"
            and not cfg.dropout and type(optimizer) is torch.optim.SGD)


def resolve_backend(
    backend: str, model: Net1989, optimizer: torch.optim.Optimizer, loss: str, batch_size: int,
    precision: str = "fp32",
) -> str:
    if backend not in CHOICES:
        raise ConfigError(f"trainer.backend={backend!r}: choose one of {', '.join(CHOICES)}")
    if backend != "auto":
        return backend
    device = next(model.parameters()).device.type
    fused = {"cpu": "fused_cpu", "cuda": "cuda_persistent"}.get(device)
    if fused is None or unsupported(model, optimizer, loss, batch_size, fused, precision):
        return "eager"
    if fused == "cuda_persistent" and not CUDA_TRICKS_VERIFIED and not paper_recipe(model, optimizer, loss):
        return "eager"
    return fused


def _adam_state(optimizer: torch.optim.AdamW, params: list[torch.Tensor]) -> list[dict]:
    """AdamW's per-parameter state, created as torch creates it on its first step (fused=True:
    a float32 step counter), so a checkpoint holds the same entries whichever backend ran."""
    states = []
    for p in params:
        state = optimizer.state[p]
        if not state:
            fused = bool(optimizer.param_groups[0].get("fused"))
            state["step"] = torch.zeros((), dtype=torch.float32) if fused else torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        states.append(state)
    return states


def fused_steps(
    backend: str, model: Net1989, optimizer: torch.optim.Optimizer, loss: str, batch_size: int,
    *, label_smoothing: float = 0.0, seed: int = 0, precision: str = "fp32",
) -> Callable[..., float] | None:
    """The fused step function for `backend`, or None for the eager loop.

    The function is ``steps(xs, ys, pass_=0, step0=0)``: it runs one step per example, step
    ``step0 + i`` of pass ``pass_`` for xs[i] (the counter of the dropout masks, with ``seed``)."""
    if backend not in BACKENDS:
        raise ConfigError(f"trainer.backend={backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "eager":
        return None
    problems = unsupported(model, optimizer, loss, batch_size, backend, precision)
    if problems:
        raise ConfigError(f"trainer.backend={backend} runs per-example recipes only; not supported: "
                          + "; ".join(problems) + " (trainer.backend=auto picks eager for these)")
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
    params = [getattr(model, k) for k in PARAMS]
    idx = model.h2_inputs.view(model.cfg.h2_maps, -1).to(torch.int32).contiguous()
    pad = float(model.cfg.pad_value)
    # The rate and AdamW's numbers are read at every call from optimizer.param_groups[0]: the
    # scheduler changes the rate, and loading a checkpoint replaces the group dicts.

    if backend == "cuda_persistent" and paper_recipe(model, optimizer, loss):
        # The paper's recipe keeps its original kernel (train_steps, as measured); the tricks run
        # train_steps_ex below, the CPU's binding and semantics on the GPU.
        act, out = SQUASH[model.cfg.activation], SQUASH[model.cfg.effective_output_activation]

        def run_cuda(xs: torch.Tensor, ys: torch.Tensor, pass_: int = 0, step0: int = 0) -> float:  # noqa: ARG001
            return ext.train_steps(xs.contiguous(), ys.contiguous(), idx, [p.data for p in params],
                                   float(optimizer.param_groups[0]["lr"]), pad, *act, *out)

        return run_cuda

    act, out = ACT_CODES[model.cfg.activation], ACT_CODES[model.cfg.effective_output_activation]
    loss_kind = {"mse": 0, "ce": 1}[loss]
    dropout = float(model.cfg.dropout)
    is_adamw = type(optimizer) is torch.optim.AdamW
    is_sdlm = type(optimizer) is SDLM

    def run(xs: torch.Tensor, ys: torch.Tensor, pass_: int = 0, step0: int = 0) -> float:
        state, numbers = [], []
        group = optimizer.param_groups[0]
        if is_sdlm:  # the pass's step sizes (re-estimated at its first step); chunks never span two passes
            state = optimizer.start_steps()  # type: ignore[union-attr]
        elif is_adamw:
            states = _adam_state(optimizer, params)  # type: ignore[arg-type]
            state = [s["exp_avg"] for s in states] + [s["exp_avg_sq"] for s in states]
            beta1, beta2 = group["betas"]
            numbers = [beta1, beta2, group["eps"], group["weight_decay"], float(states[0]["step"])]
        total = ext.train_steps_ex(xs.contiguous(), ys.contiguous(), idx, [p.data for p in params], state, numbers,
                                   float(group["lr"]), pad, *act, *out, loss_kind, float(label_smoothing), dropout,
                                   int(seed), int(pass_), int(step0))
        if is_adamw:
            for s in states:
                s["step"] += len(ys)  # float32, exact below 2^24 steps (the longest row: 600,000)
        if is_sdlm:
            optimizer.advance(len(ys))  # type: ignore[union-attr]
        return total

    if not is_sdlm:  # SGD and AdamW: the state a chunk changes is known, so a diverged chunk can be replayed
        run.snapshot, run.restore, run.finite = _chunk_state(params, optimizer)  # type: ignore[attr-defined]
    return run


def _chunk_state(params: list[torch.Tensor], optimizer: torch.optim.Optimizer):
    """snapshot(), restore(saved) and finite() of what a chunk of fused steps changes: the
    weights and AdamW's moments and step count (SGD has none). FusedStepper replays a chunk
    that diverged from its start, one step at a time, to name the step where it did."""

    def finite() -> bool:
        return all(bool(torch.isfinite(p).all()) for p in params)

    def snapshot():
        weights = [p.detach().clone() for p in params]
        moments = {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in optimizer.state[p].items()}
                   for i, p in enumerate(params) if p in optimizer.state}
        return weights, moments

    def restore(saved) -> None:
        weights, moments = saved
        with torch.no_grad():
            for p, w in zip(params, weights):
                p.copy_(w)
        for i, p in enumerate(params):
            optimizer.state.pop(p, None)
            if i in moments:
                optimizer.state[p] = {k: v.clone() if torch.is_tensor(v) else v for k, v in moments[i].items()}

    return snapshot, restore, finite


def fused_curvature(model: Net1989, xs: torch.Tensor, size: int, seed: int):
    """optim=sdlm's h of pass ``pass_`` from the C++ kernel (net1989_cpu.cpp: gauss_newton_diag) on that
    pass's sample of ``xs``: lecun1989/sdlm.py's eager_curvature, computed per example in float32."""
    from . import build

    ext = build.cpu_extension()
    params = [getattr(model, k) for k in PARAMS]
    idx = model.h2_inputs.view(model.cfg.h2_maps, -1).to(torch.int32).contiguous()
    act, out = ACT_CODES[model.cfg.activation], ACT_CODES[model.cfg.effective_output_activation]

    def curvature(pass_: int) -> list[torch.Tensor]:
        sample = xs[sample_indices(len(xs), size, seed, pass_)].contiguous()
        sums = ext.gauss_newton_diag(sample, idx, [p.data for p in params], float(model.cfg.pad_value), *act, *out)
        return [h / len(sample) for h in sums]

    return curvature


@dataclass
class FusedStepper:
    """Chunks of per-example steps in one kernel call each. The draws (augmentation
    here, dropout masks in the kernel) come from the counter-based generator
    keyed by (seed, pass, step) (counter_rng.py): a fused run is a pure function of
    its config and seed, however it is chunked or resumed. They differ from eager's
    draws (torch's global RNG); the distribution does not."""

    steps: Callable[..., float]  # from fused_steps
    augment: AugmentConfig | None = None  # augment_shift's and augment_distort's parameters (None: off)
    seed: int = 0
    chunk_steps: int = 0  # trainer.fused_chunk_steps (0 = no limit)
    checkpoint_every_steps: int = 0
    _pass: int = 0
    _step: int = 0
    first_non_finite: int | None = None  # after a call whose loss is non-finite: the step where it first was

    def chunk_end(self, step: int, steps_per_epoch: int, global_step: int) -> int:
        """The chunk size, the next checkpoint boundary or the end of the pass, whichever comes first."""
        # Per-example steps: every pass has steps_per_epoch of them, so this is the pass's index.
        self._pass, self._step = (global_step - step) // steps_per_epoch, step
        end = steps_per_epoch
        if self.chunk_steps:
            end = min(end, step + self.chunk_steps)
        if self.checkpoint_every_steps:
            end = min(end, step + self.checkpoint_every_steps - global_step % self.checkpoint_every_steps)
        return end

    def __call__(self, xs: torch.Tensor, ys: torch.Tensor) -> float:
        steps = np.arange(self._step, self._step + len(ys), dtype=np.uint64)
        if self.augment is not None and self.augment.active:
            xs = counter_rng.augment(xs, self.augment, self.seed, self._pass, steps)
        # The kernel returns the chunk's summed loss (finite even where a weight is not: its tanh clamps),
        # so a chunk that diverged is replayed to find the step where it did (the loop reports that step;
        # without a replay, the chunk's steps).
        self.first_non_finite = None
        locate = hasattr(self.steps, "snapshot")
        saved = self.steps.snapshot() if locate and len(ys) > 1 else None
        total = self.steps(xs, ys, self._pass, self._step)
        if locate and not (math.isfinite(total) and self.steps.finite()):
            self.first_non_finite = self._replay(saved, xs, ys) if saved is not None else self._step + 1
        return total

    def _replay(self, saved, xs: torch.Tensor, ys: torch.Tensor) -> int | None:
        """The pass's (1-based) step whose loss first went non-finite, or after which a weight did: the
        chunk again from its start, one step per call (the same steps and draws: a fused run does not
        depend on its chunking)."""
        self.steps.restore(saved)
        for i in range(len(ys)):
            loss = self.steps(xs[i : i + 1], ys[i : i + 1], self._pass, self._step + i)
            if not (math.isfinite(loss) and self.steps.finite()):
                return self._step + i + 1
        return None

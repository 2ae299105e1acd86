"""The paper's optimizer: stochastic diagonal Levenberg-Marquardt (`optim=sdlm`).

LeCun et al. 1989 (section 5.2) update the weights after each pattern with "a special version of
Newton's algorithm that uses a positive, diagonal approximation of the Hessian matrix" (LeCun 1987;
Becker & LeCun 1988). The paper gives no numbers for it; LeCun, Bottou, Bengio & Haffner 1998
(appendix C, and section III.A for LeNet-5's values) describe the method as we run it:

- every parameter k has its own step size  eta_k = eps / (mu + h_kk);
- h_kk >= 0 is the diagonal of the Gauss-Newton approximation of d2E/dw_k2, back-propagated like
  the gradient with squared weights and squared slopes, off-diagonal terms dropped (`gauss_newton_diag`);
  a shared weight sums the terms of every connection that uses it; biases likewise with x = 1;
- h is estimated on a sample of patterns before each pass and kept fixed during the pass;
- eps follows a per-pass schedule.

Our choices where 1989 is silent are `SDLMConfig`'s defaults, each with its source
(lecun1989/README.md, "Faithfulness"). The fused CPU kernel computes the same h
(net1989_cpu.cpp: gauss_newton_diag) and the same per-parameter update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_input, conv2d_weight

from repro.train.optim import OptimConfig

from .model import Net1989

# net1989's parameters in the fused kernels' order (fused/stepper.py: PARAMS).
PARAMS = ("h1_w", "h1_b", "h2_w", "h2_b", "h3_w", "h3_b", "out_w", "out_b")
# activation -> (amplitude, slope) of amp * tanh(slope * a); relu: f' = [y > 0].
_SQUASH = {"tanh": (1.0, 1.0), "scaled_tanh": (1.7159, 2.0 / 3.0)}


@dataclass(frozen=True)
class SDLMConfig(OptimConfig):
    """conf/lecun1989/optim/sdlm.yaml. The 1989 paper states none of these numbers; the defaults are
    LeCun et al. 1998's for LeNet-5 (section III.A), the nearest published ones."""

    name: Literal["sdlm"] = "sdlm"
    # eps of the first pass; later passes take `lr_later[i]` from pass `milestones[i]` (0-based) on.
    # 1998: 0.0005 for two passes, 0.0002 for three, 0.0001 for three, 0.00005 for four, then 0.00001,
    # in passes of 60,000 digits. Counted in updates (chosen on validation over counting USPS passes):
    # 0.0005 for 16 passes of 7,291 (~120,000 updates), then 0.0002 (300,000 is past 23 passes).
    lr: float = 0.0005
    lr_later: tuple[float, ...] = (0.0002,)
    milestones: tuple[int, ...] = (16,)
    # The Levenberg-Marquardt constant that bounds each step where the curvature is small. 1998: 0.02.
    mu: float = 0.02
    # Patterns the curvature is averaged over before each pass (a fresh sample per pass, drawn from the
    # run's seed). 1998: 500.
    hessian_sample: int = 500

    def validate(self) -> None:
        super().validate()
        if self.schedule != "constant":
            raise ValueError("optim=sdlm sets eps per pass itself (lr, lr_later, milestones); schedule must be constant")
        if self.momentum or self.weight_decay:
            raise ValueError("optim=sdlm has no momentum or weight decay")
        if len(self.lr_later) != len(self.milestones):
            raise ValueError(f"lr_later ({len(self.lr_later)} values) needs one milestone each ({len(self.milestones)} given)")
        if any(v <= 0 for v in self.lr_later):
            raise ValueError("lr_later values must be > 0")
        if self.mu <= 0:
            raise ValueError("mu must be > 0 (eps / (mu + h) with h >= 0)")
        if self.hessian_sample < 1:
            raise ValueError("hessian_sample must be >= 1")

    def eps(self, pass_: int) -> float:
        """eps of pass ``pass_`` (0-based)."""
        values = (self.lr, *self.lr_later)
        return values[sum(pass_ >= m for m in self.milestones)]


def sample_indices(n: int, size: int, seed: int, pass_: int) -> torch.Tensor:
    """The training patterns the curvature of pass ``pass_`` is estimated on: ``size`` of the ``n``
    drawn without replacement from (seed, pass), in increasing order (all of them if size >= n)."""
    if size >= n:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + pass_ + 0x5D1)
    return torch.randperm(n, generator=gen)[:size].sort().values


def _slope(model: Net1989, name: str, y: torch.Tensor) -> torch.Tensor:
    """f'(a) from the unit's output y = f(a)."""
    if name == "relu":
        return (y > 0).to(y.dtype)
    amp, slope = _SQUASH[name]
    return slope * (amp - y * y / amp)


def unsupported(model: Net1989, loss: str, batch_size: int) -> list[str]:
    """What optim=sdlm does not run (empty: nothing): the curvature is MSE's, per example, no dropout."""
    cfg = model.cfg
    problems = []
    if loss != "mse":
        problems.append(f"loss={loss} (sdlm: mse, the paper's)")
    if batch_size != 1:
        problems.append(f"trainer.batch_size={batch_size} (sdlm: per-example steps, 1)")
    if cfg.dropout:
        problems.append(f"model.dropout={cfg.dropout} (sdlm: none)")
    if cfg.norm != "none":
        problems.append(f"model.norm={cfg.norm} (sdlm: none)")
    if cfg.activation not in (*_SQUASH, "relu"):
        problems.append(f"model.activation={cfg.activation} (sdlm: tanh, scaled_tanh, relu)")
    if cfg.effective_output_activation not in _SQUASH:
        problems.append(f"model.output_activation={cfg.effective_output_activation} (sdlm: tanh, scaled_tanh)")
    return problems


@torch.no_grad()
def gauss_newton_diag(model: Net1989, xs: torch.Tensor) -> dict[str, torch.Tensor]:
    """The diagonal Gauss-Newton curvature h of every parameter, averaged over the examples ``xs``
    [B, 1, 16, 16] (MSE to +-1 targets, mean over the 10 outputs, as the run's loss): the rules of
    LeCun et al. 1998, appendix C, batched.

        output unit:      d2E/da2   = f'(a)^2 * 2/10                 (d2E/dy2 of the mean over 10)
        connection:       d2E/dx_i2 = sum_j w_ji^2 d2E/da_j2
        unit:             d2E/da_i2 = f'(a_i)^2 d2E/dx_i2
        weight w_ij:      h        += x_i^2 d2E/da_j2  (every connection sharing it; bias: x = 1)
    """
    cfg, p, s = model.cfg, model.PAD, model.STRIDE
    act, out_act = cfg.activation, cfg.effective_output_activation
    L = model.layers(xs)
    h1, h2, h3, out = L["h1"], L["h2"], L["h3"], L["out"]
    b = xs.shape[0]
    h = {}
    a4 = _slope(model, out_act, out) ** 2 * (2.0 / out.shape[1])  # [B, 10]
    h["out_w"] = a4.T @ h3**2
    h["out_b"] = a4.sum(0)
    a3 = (a4 @ model.out_w**2) * _slope(model, act, h3) ** 2  # [B, H3]
    flat = h2.flatten(1)
    h["h3_w"] = a3.T @ flat**2
    h["h3_b"] = a3.sum(0)
    a2 = ((a3 @ model.h3_w**2) * _slope(model, act, flat) ** 2).view_as(h2)  # [B, M2, 4, 4]
    # H2: each map reads its own 8 H1 maps (padded with pad_value): a grouped convolution over them.
    gathered = F.pad(h1.index_select(1, model.h2_inputs), (p, p, p, p), value=cfg.pad_value)
    h["h2_w"] = conv2d_weight(gathered**2, model.h2_w.shape, a2, stride=s, groups=cfg.h2_maps)
    h["h2_b"] = a2.sum(0)
    x2 = conv2d_input(gathered.shape, model.h2_w**2, a2, stride=s, groups=cfg.h2_maps)[:, :, p:-p, p:-p]
    x1 = torch.zeros_like(h1).index_add_(1, model.h2_inputs, x2)  # back onto the H1 maps each copy came from
    a1 = x1 * _slope(model, act, h1) ** 2  # [B, M1, 8, 8]
    xpad = F.pad(xs, (p, p, p, p), value=cfg.pad_value)
    h["h1_w"] = conv2d_weight(xpad**2, model.h1_w.shape, a1, stride=s)
    h["h1_b"] = a1.sum(0)
    return {k: (v / b).reshape(getattr(model, k).shape) for k, v in h.items()}


Curvature = Callable[[int], list[torch.Tensor]]  # pass (0-based) -> h per parameter, in PARAMS order


class SDLM(torch.optim.Optimizer):
    """Per-example steps w_k -= eps / (mu + h_kk) * g_k, h re-estimated before every pass.

    ``curvature(pass_)`` returns h for the parameters (in their order) from the current weights; it is
    called at the first step of each pass (every ``steps_per_pass`` steps), before that step's update,
    so from the weights the pass starts with. The state (step count, h and the step sizes) is in
    `state_dict`, so a run resumed mid-pass keeps its pass's step sizes. The fused CPU backend calls
    `start_steps` and `advance` around its kernel instead of `step` (fused/stepper.py)."""

    def __init__(self, params, cfg: SDLMConfig, steps_per_pass: int, curvature: Curvature | None = None):
        super().__init__(params, {"lr": cfg.lr, "mu": cfg.mu})
        if len(self.param_groups) != 1:
            raise ValueError("SDLM takes one parameter group")
        self.cfg, self.steps_per_pass, self.curvature = cfg, steps_per_pass, curvature
        for p in self._params():
            self.state[p].update(step=torch.tensor(0.0, dtype=torch.float64), h=torch.zeros_like(p),
                                 eta=torch.zeros_like(p))

    def _params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    @property
    def steps_taken(self) -> int:
        return int(self.state[self._params()[0]]["step"])

    def start_steps(self) -> list[torch.Tensor]:
        """Before a step: at a pass's first step, set the pass's eps and re-estimate h and the step
        sizes. Returns the step sizes (the state's own tensors)."""
        t = self.steps_taken
        if t % self.steps_per_pass == 0:
            if self.curvature is None:
                raise RuntimeError("SDLM needs its curvature function before the first step")
            pass_ = t // self.steps_per_pass
            group = self.param_groups[0]
            group["lr"] = self.cfg.eps(pass_)
            for p, h in zip(self._params(), self.curvature(pass_)):
                state = self.state[p]
                state["h"].copy_(h)
                # eta = eps / (mu + h), in the parameters' dtype: the same float32 numbers for both backends.
                state["eta"].copy_(group["lr"] / (group["mu"] + state["h"]))
        return [self.state[p]["eta"] for p in self._params()]

    def advance(self, steps: int) -> None:
        for p in self._params():
            self.state[p]["step"] += steps

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ARG002 (per-example steps: no closure)
        etas = self.start_steps()
        for p, eta in zip(self._params(), etas):
            if p.grad is not None:
                p.addcmul_(eta, p.grad, value=-1.0)
        self.advance(1)


def eager_curvature(model: Net1989, xs: torch.Tensor, size: int, seed: int) -> Curvature:
    """h of pass ``pass_`` from PyTorch (`gauss_newton_diag`) on that pass's sample of ``xs``."""

    def curvature(pass_: int) -> list[torch.Tensor]:
        idx = sample_indices(len(xs), size, seed, pass_).to(xs.device)
        h = gauss_newton_diag(model, xs[idx])
        return [h[k] for k in PARAMS]

    return curvature


__all__ = ["PARAMS", "SDLM", "SDLMConfig", "eager_curvature", "gauss_newton_diag", "sample_indices", "unsupported"]

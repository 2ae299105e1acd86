"""The network of LeCun et al. 1989, "Backpropagation Applied to Handwritten
Zip Code Recognition" (Neural Computation 1(4)), section 5.1 and Figure 3.

    input 16x16  (padded with -1, the background value, so 5x5/2 gives 8x8)
    H1    12 maps 8x8, 5x5 kernels, stride 2, weights shared within a map,
          one bias per *unit* (the paper: "units ... have their own bias")
    H2    12 maps 4x4, 5x5 kernels, stride 2, each map reads 8 of the 12 H1
          maps (see connectivity.py), per-unit biases
    H3    30 units, fully connected to H2
    out   10 units, fully connected to H3, targets -1/+1

With the sparse H2 layer and per-unit biases this gives exactly the paper's
1,256 units, 64,660 connections and 9,760 free parameters (`counts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .connectivity import dense_mask, h2_input_maps

Activation = Literal["tanh", "scaled_tanh", "relu"]

# How H2's sparse convolution is computed; the same weights and outputs either way
# (tested against each other, values and gradients). "grouped": the gathered H1 maps
# through a grouped convolution (groups = H2 maps). "dense": one dense convolution
# with the weights scattered into [h2, h1, 5, 5] (zeros where a map is not
# connected): 1.5x the multiply-adds, but PyTorch's CPU grouped convolution is
# pathologically slow at these shapes (issue 22, 1 thread: 146 ms vs 3.9 ms forward
# at batch 2048; 0.26 vs 0.21 ms forward+backward at batch 1). Chosen per device type;
# elsewhere (CUDA) grouped, today's formulation (not measured without a GPU).
H2_FORMULATIONS = ("grouped", "dense")
INIT_DRAWS = ("seed", "karpathy1337", "karpathy1337_first")
H2_FORMULATION_BY_DEVICE = {"cpu": "dense"}


@dataclass(frozen=True)
class ModelConfig:
    # The paper's layer sizes; widths are options for the modern ablations.
    h1_maps: int = 12
    h2_maps: int = 12
    h3_units: int = 30
    h2_scheme: Literal["three_groups", "full"] = "three_groups"
    # Paper: "a scaled hyperbolic tangent" for every unit. Karpathy's repro uses
    # plain tanh; we default to it and offer the paper's 1.7159*tanh(2x/3).
    activation: Activation = "tanh"
    # The output units. Paper (section 5): every unit, outputs included, uses
    # the scaled tanh, and "the target values for the output units were chosen
    # within the quasilinear range of the sigmoid": targets +-1 against
    # 1.7159*tanh(2x/3)'s asymptotes +-1.7159. "hidden" (default): the hidden
    # units' squashing function, so activation=scaled_tanh is the paper's net
    # outputs included, and activation=tanh is Karpathy's (plain tanh trained
    # toward +-1, its asymptotes); with ReLU hidden units, tanh. "tanh" /
    # "scaled_tanh" fix it; "none" emits raw logits for a softmax/cross-entropy
    # loss (a modern change). `effective_output_activation` resolves it.
    output_activation: Literal["hidden", "tanh", "scaled_tanh", "none"] = "hidden"
    # Paper: padding "with the background value" (-1). H2's input is padded the
    # same way (the paper is silent; -1 is what a saturated-off H1 unit emits).
    pad_value: float = -1.0
    # Paper: weights "uniformly distributed between -2.4/F and 2.4/F, F the
    # fan-in". Karpathy reads it as 2.4/sqrt(F): init_fan_in_power=0.5.
    init_scale: float = 2.4
    init_fan_in_power: float = 1.0
    # The paper counts biases as connections from a constant unit, so by default
    # they are drawn like the weights (same F); "zero" is Karpathy's choice.
    bias_init: Literal["uniform", "zero"] = "uniform"
    # None: the output biases start as bias_init says. A number: every output
    # bias starts at it; Karpathy's repro.py (his 0.62% / 4.09% run):
    # "self.outb = nn.Parameter(-torch.ones(10))" (his modern.py: zeros).
    output_bias: float | None = None
    # Which generator draws the initial weights. "seed": the run's own (seed -> weights). "karpathy1337":
    # the tensors Karpathy's scripts start from (repro.py, modern.py: torch.manual_seed(1337), then
    # H1w [12,1,5,5], H2w [12,8,5,5], H3w [192,30], outw [30,10] drawn in that order as
    # (rand - 0.5) * 2 * 2.4 / sqrt(F); his H3w and outw are our h3_w and out_w transposed), so every
    # seed starts from his weights and varies only the shift and dropout draws (issue 43).
    # "karpathy1337_first": the same draws scaled as his first repro.py wrote it (rand * up * 2 - up,
    # up = 2.4 / sqrt(F); commit 1ee2ac9, the 0.60% / 4.04% run): other roundings of the same numbers.
    # Both need his init (init_karpathy: 2.4/sqrt(F), zero biases) and his layer shapes.
    init_draw: Literal["seed", "karpathy1337", "karpathy1337_first"] = "seed"
    dropout: float = 0.0  # before H3; 0 = the paper (no dropout in 1989)
    # "batch": BatchNorm on H1, H2 and H3 pre-activations (Ioffe & Szegedy
    # 2015; needs mini-batches). "none" = the paper.
    norm: Literal["none", "batch"] = "none"

    @property
    def effective_output_activation(self) -> str:
        """The output units' function: output_activation with "hidden" resolved."""
        if self.output_activation != "hidden":
            return self.output_activation
        return self.activation if self.activation in ("tanh", "scaled_tanh") else "tanh"

    def init_draw_problem(self) -> str | None:
        """Why init_draw cannot draw Karpathy's tensors in this (finished: tricks applied) config, else None."""
        if self.init_draw == "seed":
            return None
        his = {"h1_maps": 12, "h2_maps": 12, "h3_units": 30, "h2_scheme": "three_groups", "init_scale": 2.4,
               "init_fan_in_power": 0.5, "bias_init": "zero", "norm": "none"}
        off = [f"{k}={getattr(self, k)}" for k, v in his.items() if getattr(self, k) != v]
        return (f"model.init_draw={self.init_draw} draws Karpathy's own tensors, which need his init and shapes "
                f"(trick init_karpathy, the paper's widths); here {', '.join(off)}") if off else None

    def validate(self) -> None:
        for name in ("h1_maps", "h2_maps", "h3_units"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.init_scale <= 0:
            raise ValueError("init_scale must be > 0")
        if self.init_draw not in INIT_DRAWS:
            raise ValueError(f"init_draw must be one of {', '.join(INIT_DRAWS)}, got {self.init_draw!r}")
        if self.h2_scheme == "three_groups" and (self.h1_maps % 3 or self.h2_maps % 3):
            # connectivity.py: H2's three groups read two of H1's three groups (checked here, before any folder).
            raise ValueError(f"h2_scheme=three_groups needs h1_maps and h2_maps divisible by 3, got {self.h1_maps} "
                             f"and {self.h2_maps} (or model.h2_scheme=full)")


def _activation(name: str):
    if name == "tanh":
        return torch.tanh
    if name == "scaled_tanh":
        # LeCun's symmetric sigmoid: f(1) ~= 1, so the +-1 targets sit in the
        # non-saturated range.
        return lambda a: 1.7159 * torch.tanh(a * (2.0 / 3.0))
    if name == "relu":
        return F.relu
    if name == "none":
        return lambda a: a
    raise ValueError(f"unknown activation {name!r}")


class Net1989(nn.Module):
    INPUT_SIZE = 16
    KERNEL = 5
    STRIDE = 2
    # 16 -> 8 and 8 -> 4 with 5x5/2 need 2 pixels of padding on each side.
    PAD = 2

    def __init__(self, cfg: ModelConfig = ModelConfig(), generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        k = self.KERNEL
        inputs = h2_input_maps(cfg.h1_maps, cfg.h2_maps, cfg.h2_scheme)
        self.register_buffer("h2_inputs", inputs.reshape(-1), persistent=False)
        self.h2_fan_maps = inputs.shape[1]

        self.h1_w = nn.Parameter(torch.empty(cfg.h1_maps, 1, k, k))
        self.h1_b = nn.Parameter(torch.empty(cfg.h1_maps, 8, 8))
        # Only the connections that exist are parameters: [h2, 8, 5, 5], applied
        # as a grouped convolution over the gathered H1 maps.
        self.h2_w = nn.Parameter(torch.empty(cfg.h2_maps, self.h2_fan_maps, k, k))
        self.h2_b = nn.Parameter(torch.empty(cfg.h2_maps, 4, 4))
        self.h3_w = nn.Parameter(torch.empty(cfg.h3_units, cfg.h2_maps * 16))
        self.h3_b = nn.Parameter(torch.empty(cfg.h3_units))
        self.out_w = nn.Parameter(torch.empty(10, cfg.h3_units))
        self.out_b = nn.Parameter(torch.empty(10))
        if cfg.norm == "batch":
            self.h1_norm = nn.BatchNorm2d(cfg.h1_maps)
            self.h2_norm = nn.BatchNorm2d(cfg.h2_maps)
            self.h3_norm = nn.BatchNorm1d(cfg.h3_units)
        self._act = _activation(cfg.activation)
        self._out_act = _activation(cfg.effective_output_activation)
        self.reset_parameters(generator)

    # -- initialisation -------------------------------------------------
    def fan_ins(self) -> dict[str, int]:
        k2 = self.KERNEL**2
        return {
            "h1": k2,
            "h2": self.h2_fan_maps * k2,
            "h3": self.cfg.h2_maps * 16,
            "out": self.cfg.h3_units,
        }

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        cfg = self.cfg
        if cfg.init_draw != "seed":
            problem = cfg.init_draw_problem()
            if problem:
                raise ValueError(problem)
            self._karpathy_weights(first=cfg.init_draw == "karpathy1337_first")
            return
        for layer, fan_in in self.fan_ins().items():
            bound = cfg.init_scale / fan_in**cfg.init_fan_in_power
            w = getattr(self, f"{layer}_w")
            b = getattr(self, f"{layer}_b")
            # U[-bound, bound] drawn from the run's own generator: same seed,
            # same weights, whatever else touched the global RNG.
            w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1) * bound)
            if cfg.bias_init == "uniform":
                b.copy_((torch.rand(b.shape, generator=generator) * 2 - 1) * bound)
            else:
                b.zero_()
        if cfg.output_bias is not None:
            self.out_b.fill_(cfg.output_bias)

    @torch.no_grad()
    def _karpathy_weights(self, first: bool) -> None:
        """Karpathy's starting tensors: torch.manual_seed(1337), then his four weight tensors drawn in his
        order and shapes (his H3w, outw are [in, out]: ours transposed); biases zero, output biases as
        output_bias says (his repro.py: -1)."""
        gen = torch.Generator().manual_seed(1337)  # the stream torch.manual_seed(1337) gives the global one

        def winit(fan_in: int, *shape: int) -> torch.Tensor:
            r = torch.rand(*shape, generator=gen)
            if first:  # his first repro.py: U[-up, up] as r * up * 2 - up
                up = 2.4 / fan_in**0.5
                return r * up * 2 - up
            return (r - 0.5) * 2 * 2.4 / fan_in**0.5  # repro.py / modern.py since commit a1e226d

        self.h1_w.copy_(winit(25, 12, 1, 5, 5))
        self.h2_w.copy_(winit(200, 12, 8, 5, 5))  # his H2w[i, j]: H2 map i's j-th input map, as h2_input_maps
        self.h3_w.copy_(winit(192, 192, 30).t())
        self.out_w.copy_(winit(30, 30, 10).t())
        for b in (self.h1_b, self.h2_b, self.h3_b, self.out_b):
            b.zero_()
        if self.cfg.output_bias is not None:
            self.out_b.fill_(self.cfg.output_bias)

    # -- forward ----------------------------------------------------------
    def forward(self, x: torch.Tensor, dropout_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(x, dropout_mask)["out"]

    def layers(self, x: torch.Tensor, dropout_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every layer's activations for a [B, 1, 16, 16] batch. ``dropout_mask`` [B, h2*16]
        (0 or 1/(1-p)) replaces dropout's own draw in training mode: the eager replay of a
        fused run's draws (fused/reference.py)."""
        if x.dim() != 4 or x.shape[1:] != (1, self.INPUT_SIZE, self.INPUT_SIZE):
            raise ValueError(f"expected input [B, 1, 16, 16], got {list(x.shape)}")
        p, s = self.PAD, self.STRIDE
        x = F.pad(x, (p, p, p, p), value=self.cfg.pad_value)
        h1 = self._act(self._norm("h1", F.conv2d(x, self.h1_w, stride=s) + self.h1_b))
        h2 = self._act(self._norm("h2", self.h2_conv(h1) + self.h2_b))
        flat = h2.flatten(1)
        if self.cfg.dropout > 0 and self.training and dropout_mask is not None:
            flat = flat * dropout_mask
        elif self.cfg.dropout > 0:
            flat = F.dropout(flat, self.cfg.dropout, self.training)
        h3 = self._act(self._norm("h3", F.linear(flat, self.h3_w, self.h3_b)))
        out = self._out_act(F.linear(h3, self.out_w, self.out_b))
        return {"h1": h1, "h2": h2, "h3": h3, "out": out}

    def h2_conv(self, h1: torch.Tensor, formulation: str | None = None) -> torch.Tensor:
        """H2's pre-activations without bias, [B, h2, 4, 4], by ``formulation`` (default: the
        device's, `H2_FORMULATION_BY_DEVICE`)."""
        p, s = self.PAD, self.STRIDE
        how = formulation or H2_FORMULATION_BY_DEVICE.get(h1.device.type, "grouped")
        if how == "dense":
            return F.conv2d(F.pad(h1, (p, p, p, p), value=self.cfg.pad_value), self.dense_h2_weight(), stride=s)
        if how != "grouped":
            raise ValueError(f"unknown H2 formulation {how!r}; choose one of {H2_FORMULATIONS}")
        # Gather, for every H2 map, the H1 maps it reads: [B, h2*8, 8, 8].
        h2_in = F.pad(h1.index_select(1, self.h2_inputs), (p, p, p, p), value=self.cfg.pad_value)
        return F.conv2d(h2_in, self.h2_w, stride=s, groups=self.cfg.h2_maps)

    def _norm(self, layer: str, a: torch.Tensor) -> torch.Tensor:
        return a if self.cfg.norm == "none" else getattr(self, f"{layer}_norm")(a)

    # -- the paper's bookkeeping -----------------------------------------
    def dense_h2_weight(self) -> torch.Tensor:
        """H2's weights scattered into a dense [h2, h1, 5, 5] tensor (zeros where unconnected)."""
        c = self.cfg
        dense = self.h2_w.new_zeros(c.h2_maps, c.h1_maps, self.KERNEL, self.KERNEL)
        idx = self.h2_inputs.view(c.h2_maps, self.h2_fan_maps)
        return dense.scatter(1, idx[:, :, None, None].expand(-1, -1, self.KERNEL, self.KERNEL), self.h2_w)

    def h2_mask(self) -> torch.Tensor:
        return dense_mask(self.h2_inputs.view(self.cfg.h2_maps, -1), self.cfg.h1_maps)

    def counts(self) -> dict[str, int]:
        """Units, connections (each bias counted as one) and free parameters."""
        c = self.cfg
        units = {"input": 16 * 16, "h1": c.h1_maps * 64, "h2": c.h2_maps * 16, "h3": c.h3_units, "out": 10}
        fan = self.fan_ins()
        connections = sum(units[layer] * (fan[layer] + 1) for layer in ("h1", "h2", "h3", "out"))
        return {
            "units": sum(units.values()),
            "connections": connections,
            "free_parameters": sum(p.numel() for p in self.parameters()),
        }


PAPER_COUNTS = {"units": 1256, "connections": 64660, "free_parameters": 9760}


def build_model(cfg: ModelConfig, seed: int) -> Net1989:
    gen = torch.Generator().manual_seed(seed)
    return Net1989(cfg, generator=gen)


def describe_counts(model: Net1989) -> str:
    got = model.counts()
    rows = [f"{k:>16}: {v:>7,d}  (paper {PAPER_COUNTS[k]:,d})" for k, v in got.items()]
    return "\n".join(rows)


__all__ = ["H2_FORMULATIONS", "H2_FORMULATION_BY_DEVICE", "ModelConfig", "Net1989", "PAPER_COUNTS", "build_model", "describe_counts"]

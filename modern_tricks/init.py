"""Tricks on initialisation: weights U[-a/F^p, a/F^p], biases zero or like the weights."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .trick import Stage, Trick, edit, register

# He et al. 2015 gains: U(-g*sqrt(3/F), g*sqrt(3/F)) keeps the forward variance.
GAIN = {"tanh": 5.0 / 3.0, "scaled_tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}

INIT_KAIMING = register(Trick(
    name="init_kaiming",
    origin="He, Zhang, Ren & Sun 2015 (Delving Deep into Rectifiers)",
    summary="weights U[-g*sqrt(3/F), g*sqrt(3/F)] with the activation's gain g, biases zero",
    stage=Stage.INIT,
    changes=("model.init_scale", "model.init_fan_in_power", "model.bias_init"),
    apply=lambda r, p: edit(r, {"model.init_scale": GAIN[r.model.activation] * math.sqrt(3.0),
                                "model.init_fan_in_power": 0.5, "model.bias_init": "zero"}),
))

@dataclass(frozen=True)
class KarpathyInitParams:
    # Which of Karpathy's two scripts: both draw weights U[-2.4/sqrt(F), 2.4/sqrt(F)] and
    # zero the hidden biases; "modern" (modern.py) zeroes the output biases too
    # ("self.outb = nn.Parameter(torch.zeros(10))"); "repro" (repro.py, the 0.62% / 4.09%
    # run) starts them at -1 ("self.outb = nn.Parameter(-torch.ones(10)) # 9/10 targets are -1").
    script: Literal["modern", "repro"] = "modern"

    def validate(self) -> None:
        if self.script not in ("modern", "repro"):
            raise ValueError(f"script must be modern or repro, got {self.script!r}")


OUTPUT_BIAS = {"modern": None, "repro": -1.0}

INIT_KARPATHY = register(Trick(
    name="init_karpathy",
    origin="Karpathy 2022's reading of the paper's init (2.4/sqrt(F), zero biases)",
    summary="weights U[-2.4/sqrt(F), 2.4/sqrt(F)], biases zero, as his {script}.py (repro.py: output biases -1; "
            "the paper: 2.4/F, biases drawn too)",
    stage=Stage.INIT,
    changes=("model.init_scale", "model.init_fan_in_power", "model.bias_init", "model.output_bias"),
    params=KarpathyInitParams,
    apply=lambda r, p: edit(r, {"model.init_scale": 2.4, "model.init_fan_in_power": 0.5, "model.bias_init": "zero",
                                "model.output_bias": OUTPUT_BIAS[p.script]}),
))

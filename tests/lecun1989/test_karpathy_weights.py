"""Issue 43: Karpathy's own initial weights (model.init_draw=karpathy1337), on the eager and the fused
backends, and his published baseline run to the digit.

The reference below is written from his recipe as his README and scripts describe it (not copied code):
`torch.manual_seed(1337)`, then four weight tensors drawn from the global generator in the order the net
creates them -- H1 [12, 1, 5, 5], H2 [12, 8, 5, 5] (H2 map i reads 8 H1 maps: 0-7 for maps 0-3, 4-11 for
4-7, 0-3 and 8-11 for 8-11), H3 [192, 30] and the output layer [30, 10] (both applied as x @ W) -- each
uniform on [-2.4/sqrt(F), 2.4/sqrt(F)] written as (u - 1/2) * 2 * 2.4 / sqrt(F); biases zero, his
repro.py's output biases -1. Its forward pass: pad with -1, stride-2 5x5 convolutions, tanh everywhere.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lecun1989.model import ModelConfig, build_model
from lecun1989.recipe import recipe_from_config
from repro.config import ConfigError

from .test_experiments import composed

HIS = ModelConfig(init_scale=2.4, init_fan_in_power=0.5, bias_init="zero", output_bias=-1.0, init_draw="karpathy1337")


def his_tensors(first: bool = False) -> dict[str, torch.Tensor]:
    """His four starting weight tensors, in his shapes, drawn as his recipe says (global RNG, seed 1337)."""
    shapes = {"H1w": (25, (12, 1, 5, 5)), "H2w": (200, (12, 8, 5, 5)), "H3w": (192, (192, 30)), "outw": (30, (30, 10))}
    out = {}
    with torch.random.fork_rng(devices=[]):  # leave the test session's global RNG as it was
        torch.manual_seed(1337)
        for name, (fan_in, shape) in shapes.items():
            u = torch.rand(*shape)
            bound = 2.4 / math.sqrt(fan_in)
            out[name] = u * bound * 2 - bound if first else (u - 0.5) * 2 * 2.4 / math.sqrt(fan_in)
    return out


def his_forward(w: dict[str, torch.Tensor], x: torch.Tensor, out_b: float = -1.0) -> torch.Tensor:
    """His net on [B, 1, 16, 16]: three convolutions over channel slices for H2."""
    h = torch.tanh(F.conv2d(F.pad(x, (2, 2, 2, 2), value=-1.0), w["H1w"], stride=2))
    h = F.pad(h, (2, 2, 2, 2), value=-1.0)
    h2 = torch.cat([F.conv2d(h[:, 0:8], w["H2w"][0:4], stride=2),
                    F.conv2d(h[:, 4:12], w["H2w"][4:8], stride=2),
                    F.conv2d(torch.cat([h[:, 0:4], h[:, 8:12]], 1), w["H2w"][8:12], stride=2)], 1)
    h3 = torch.tanh(torch.tanh(h2).flatten(1) @ w["H3w"])
    return torch.tanh(h3 @ w["outw"] + out_b)


@pytest.mark.parametrize("draw,first", [("karpathy1337", False), ("karpathy1337_first", True)])
def test_his_weights_are_his_tensors_bit_for_bit(draw, first):
    ref = his_tensors(first)
    for seed in (0, 3):  # the run's seed does not touch them
        m = build_model(ModelConfig(**{**HIS.__dict__, "init_draw": draw}), seed)
        assert torch.equal(m.h1_w, ref["H1w"]) and torch.equal(m.h2_w, ref["H2w"])
        assert torch.equal(m.h3_w, ref["H3w"].t()) and torch.equal(m.out_w, ref["outw"].t())
        assert not any(b.any() for b in (m.h1_b, m.h2_b, m.h3_b)) and torch.equal(m.out_b, torch.full((10,), -1.0))
    # The two roundings are the same draws, a few ulps apart (his first and later repro.py).
    other = his_tensors(not first)
    assert not torch.equal(ref["H3w"], other["H3w"]) and torch.allclose(ref["H3w"], other["H3w"], rtol=0, atol=1e-6)


def test_his_weights_in_our_net_compute_his_net():
    """The layout (transposes, H2's input maps) is his: our forward from his tensors is his forward."""
    m = build_model(HIS, 0)
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    torch.testing.assert_close(m(x), his_forward(his_tensors(), x), rtol=0, atol=1e-6)
    # Not a tautology: our seeded init is another net.
    assert not torch.allclose(build_model(ModelConfig(**{**HIS.__dict__, "init_draw": "seed"}), 0)(x), m(x), atol=1e-3)


def test_the_fused_backend_starts_from_and_steps_his_weights():
    """fused_cpu trains the model's own parameters: one fused pass from his weights equals one eager pass
    (summation order only: the tolerance of tests/lecun1989/test_fused.py)."""
    from lecun1989.fused import fused_steps
    from lecun1989.loss import mse_pm1

    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(40, 1, 16, 16, generator=g) * 2 - 1, torch.randint(0, 10, (40,), generator=g)
    models = [build_model(HIS, s) for s in (0, 1)]
    opts = [torch.optim.SGD(m.parameters(), lr=0.03) for m in models]
    steps = fused_steps("fused_cpu", models[0], opts[0], "mse", 1, seed=0)
    steps(x, y, 0)  # a pass of 40 per-example steps in the C++ kernel
    for i in range(len(y)):  # the eager reference
        opts[1].zero_grad()
        mse_pm1(models[1](x[i:i + 1]), y[i:i + 1]).backward()
        opts[1].step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=2e-6)
    assert not torch.equal(models[0].h1_w, his_tensors()["H1w"])  # it did train


def test_init_draw_needs_his_init_by_name():
    with pytest.raises(ConfigError, match=r"model.init_draw=karpathy1337 draws Karpathy's own tensors, which need his "
                                          r"init and shapes .*init_fan_in_power=1.0, bias_init=uniform"):
        recipe_from_config(composed("model.init_draw=karpathy1337"))
    with pytest.raises(ConfigError, match="h3_units=40"):
        recipe_from_config(composed("model.init_draw=karpathy1337", "trick=[init_karpathy]", "model.h3_units=40"))
    recipe, _ = recipe_from_config(composed("model.init_draw=karpathy1337", "trick=[init_karpathy]"))
    assert recipe.model.init_draw == "karpathy1337"


# -- his published baseline run, on the real MNIST ----------------------------------------------------------

# His repro.py after 23 passes, both stated in his repository (karpathy/lecun1989-repro): the first README
# (commit 1ee2ac9, the rounding `rand * up * 2 - up`) and the README since commit a1e226d (the rounding of
# `(rand - 0.5) * 2 * 2.4 / sqrt(F)`, karpathy1337). (train misses, test misses).
HIS_FIRST, HIS_NOW = (44, 81), (45, 82)
# What our fused kernel gives from each, exactly (this machine, x86-64; the kernel is bit-repeatable).
OURS = {"karpathy1337": (44, 86), "karpathy1337_first": (43, 84)}
# Tolerance against his numbers, and why: the per-example trajectory is chaotic in float order. From the
# same tensors our eager and fused backends agree to the digit through pass 10 and differ by pass 15
# (4 training misses, 1 test miss); his own runs of the same draws moved from 81 to 84 test misses when
# only his environment changed (his commit 91d1de2) and to 82 when only the rounding of the init did.
# Across these six float orders of the same draws (his three, our two, and the eager run's divergence)
# the final test misses span 81-86 and the train misses 43-45: so his count within 5 test and 2 train
# misses. That band alone would not tell his weights from ours (our seeded inits on his digits give 82-96
# test misses, karpathy_protocol's baseline); the exact pin of our own misses from his tensors does.
TEST_MISSES_TOLERANCE, TRAIN_MISSES_TOLERANCE = 5, 2


@pytest.mark.parametrize("draw,his", [("karpathy1337", HIS_NOW), ("karpathy1337_first", HIS_FIRST)])
def test_his_baseline_run_to_the_digit(shared_data_root, tmp_path, draw, his):
    root = shared_data_root
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST not found under {root}/mnist")
    from lecun1989.cli import run

    cfg = composed("data=mnist16", f"data.root={root}", "+row/karpathy_protocol=baseline",
                   f"model.init_draw={draw}", "trainer.backend=fused_cpu", "trainer.progress=false",
                   "trainer.threads=1", "trainer.eval_threads=1")
    final = run(cfg, tmp_path / "run")["final"]
    got = (final["train"]["misses"], final["test"]["misses"])
    assert got == OURS[draw]
    assert abs(got[0] - his[0]) <= TRAIN_MISSES_TOLERANCE and abs(got[1] - his[1]) <= TEST_MISSES_TOLERANCE

"""Issue 22: H2's formulation per device, and evaluation on the fused CPU forward.

Both must give today's outputs: the dense formulation is checked against the
grouped one (values and gradients, float64), the fused forward against the
model's own forward, and the fused evaluator against the shared `evaluate`.
"""

import pytest
import torch

from lecun1989.fused.evaluate import fused_evaluator, fused_outputs, supports
from lecun1989.loss import cross_entropy, mse_pm1
from lecun1989.model import H2_FORMULATION_BY_DEVICE, PAPER_COUNTS, ModelConfig, build_model
from repro.train.evaluate import evaluate

CONFIGS = {
    "paper": ModelConfig(),
    "full": ModelConfig(h2_scheme="full"),
    "wider": ModelConfig(h1_maps=18, h2_maps=9, h3_units=20),
    # every tile shape of the evaluation kernel: H1 chunks of 4 and 3 maps, H2 single maps, FC tiles of 8 and 5
    "odd": ModelConfig(h1_maps=7, h2_maps=5, h2_scheme="full", h3_units=13),
    "scaled_tanh": ModelConfig(activation="scaled_tanh", output_activation="scaled_tanh"),
    "logits": ModelConfig(output_activation="none", init_fan_in_power=0.5),
    "relu_logits": ModelConfig(activation="relu", output_activation="none", init_fan_in_power=0.5),
}


def digits(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 16, 16, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("batch", [1, 5])
def test_dense_h2_equals_grouped_values_and_gradients(name, batch):
    model = build_model(CONFIGS[name], seed=3).double()
    h1 = torch.tanh(torch.randn(batch, model.cfg.h1_maps, 8, 8, dtype=torch.double, generator=torch.Generator().manual_seed(1)))
    h1.requires_grad_(True)
    grads = {}
    for how in ("grouped", "dense"):
        model.zero_grad()
        h1.grad = None
        out = model.h2_conv(h1, how)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.double).view_as(out)).sum().backward()
        grads[how] = (out.detach(), model.h2_w.grad.clone(), h1.grad.clone())
    for a, b in zip(grads["grouped"], grads["dense"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert torch.count_nonzero(grads["dense"][1]) == model.h2_w.numel()


def test_cpu_runs_the_dense_formulation_and_the_parameters_are_unchanged():
    assert H2_FORMULATION_BY_DEVICE["cpu"] == "dense"
    model = build_model(ModelConfig(), seed=0)
    h1 = torch.tanh(torch.randn(4, 12, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(model.h2_conv(h1), model.h2_conv(h1, "dense"))
    # Same free parameters and state_dict keys as before: checkpoints stay interchangeable.
    assert model.counts() == PAPER_COUNTS
    assert list(model.state_dict()) == ["h1_w", "h1_b", "h2_w", "h2_b", "h3_w", "h3_b", "out_w", "out_b"]
    assert tuple(model.h2_w.shape) == (12, 8, 5, 5)
    with pytest.raises(ValueError, match="unknown H2 formulation 'sparse'; choose one of"):
        model.h2_conv(h1, "sparse")


def test_model_forward_on_cpu_equals_the_grouped_forward_float32():
    model = build_model(ModelConfig(), seed=0)
    x, _ = digits(64)
    with torch.no_grad():
        fast = model(x)
        h1 = torch.tanh(torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0), model.h1_w, stride=2) + model.h1_b)
        h2 = torch.tanh(model.h2_conv(h1, "grouped") + model.h2_b)
        h3 = torch.tanh(torch.nn.functional.linear(h2.flatten(1), model.h3_w, model.h3_b))
        slow = torch.tanh(torch.nn.functional.linear(h3, model.out_w, model.out_b))
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("n", [1, 37])
def test_fused_forward_equals_the_model(name, n):
    model = build_model(CONFIGS[name], seed=2)
    assert supports(model)
    x, _ = digits(n, seed=n)
    with torch.no_grad():
        ref = model.double()(x.double()).float()
    model.float()
    # rtol: ReLU logits are unbounded (up to ~3 here), float32 rounding scales with them.
    torch.testing.assert_close(fused_outputs(model, x), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n", [1, 31, 33, 200])
def test_fused_forward_gives_the_same_outputs_on_any_number_of_threads(n):
    # Workers take whole blocks of examples and run the same code on each: bit-identical.
    model = build_model(ModelConfig(), seed=1)
    x, _ = digits(n, seed=n)
    one = fused_outputs(model, x, threads=1)
    for threads in (2, 3, 8):
        assert torch.equal(fused_outputs(model, x, threads=threads), one), threads


def test_fused_forward_propagates_nan_like_the_model():
    # A diverged run must read as diverged: vtanh(NaN) is NaN, as torch.tanh (it once squashed NaN to +-1).
    model = build_model(ModelConfig(), seed=0)
    x, _ = digits(3)
    x[1, 0, 7, 7] = float("nan")
    out = fused_outputs(model, x)
    with torch.no_grad():
        ref = model(x)
    assert torch.isnan(ref[1]).all() and torch.isnan(out[1]).all()
    torch.testing.assert_close(out[[0, 2]], ref[[0, 2]], rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "scaled_tanh"])
def test_fused_forward_tanh_is_accurate_over_the_whole_range(activation):
    # With the output weights zero, the outputs are the squashed output biases:
    # the kernel's own (vectorizable) tanh on a grid across both tails and the
    # switch between its polynomial and exponential branches (|x| = 0.625).
    model = build_model(ModelConfig(activation=activation), seed=0)
    grid = torch.cat([torch.linspace(-12, 12, 4001), torch.tensor([0.0, 1e-8, -1e-8, 0.625, -0.625, 0.6249999])])
    grid = torch.cat([grid, torch.zeros(-len(grid) % 10)]).view(-1, 10)
    x, _ = digits(1)
    got = []
    with torch.no_grad():
        model.out_w.zero_()
        for row in grid:
            model.out_b.copy_(row)
            got.append(fused_outputs(model, x)[0])
    amp, slope = (1.0, 1.0) if activation == "tanh" else (1.7159, 2.0 / 3.0)
    want = amp * torch.tanh(slope * grid.double())
    torch.testing.assert_close(torch.stack(got).double(), want, rtol=0, atol=3e-7)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_fused_evaluator_equals_the_shared_evaluate(loss):
    cfg = ModelConfig() if loss == "mse" else ModelConfig(output_activation="none", init_fan_in_power=0.5)
    loss_fn = mse_pm1 if loss == "mse" else cross_entropy(0.0)
    model = build_model(cfg, seed=1)
    x, y = digits(3000, seed=4)
    # A model that gets some right: labels from its own predictions, a third of them changed.
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::3] = (y[::3] + 1) % 10
    ref = evaluate(model, x, y, loss_fn, batch_size=1024)
    got = fused_evaluator(x, y, loss_fn, batch_size=1024)(model)
    assert (got.misses, got.n, got.error) == (ref.misses, ref.n, ref.error) == (1000, 3000, 100 * 1000 / 3000)
    assert got.loss == pytest.approx(ref.loss, rel=1e-6)


def test_unsupported_models_keep_the_shared_evaluation():
    assert supports(build_model(ModelConfig(activation="relu"), seed=0))  # ReLU units: forward_ex
    assert not supports(build_model(ModelConfig(norm="batch"), seed=0))
    assert supports(build_model(ModelConfig(dropout=0.5), seed=0))  # dropout is off at evaluation


def test_fused_runs_evaluate_on_the_fused_forward_and_eager_runs_on_tensors():
    from lecun1989.recipe import eval_sets

    model = build_model(ModelConfig(), seed=0)
    x, y = digits(40, seed=2)
    splits = {"train": (x, y), "test": (x[:7], y[:7])}
    fused = eval_sets("fused_cpu", model, splits, mse_pm1, 16)
    assert set(fused) == {"train", "test"} and all(callable(v) for v in fused.values())
    ref = evaluate(model, x[:7], y[:7], mse_pm1, 16)
    got = fused["test"](model)
    assert (got.misses, got.n) == (ref.misses, 7) and got.loss == pytest.approx(ref.loss, rel=1e-6)
    assert eval_sets("eager", model, splits, mse_pm1, 16) == splits
    assert eval_sets("fused_cpu", build_model(ModelConfig(norm="batch"), seed=0), splits, mse_pm1, 16) == splits


def test_eval_threads_zero_takes_this_processs_share_of_the_cores():
    from lecun1989.recipe import TrainerConfig, available_cores, runs_sharing_cores

    assert TrainerConfig(eval_threads=0).eval_cores == available_cores()
    assert TrainerConfig(eval_threads=3).eval_cores == 3
    with runs_sharing_cores(2 * available_cores()):  # more runs than cores: one each
        assert TrainerConfig(eval_threads=0).eval_cores == 1
        assert TrainerConfig(eval_threads=2).eval_cores == 2  # an explicit value is kept
    assert TrainerConfig(eval_threads=0).eval_cores == available_cores()
    with pytest.raises(ValueError, match="eval_threads"):
        TrainerConfig(eval_threads=-1).validate()

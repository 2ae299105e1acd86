"""What the tricks do once built: losses, schedules, BatchNorm, mixed precision, backend choice."""

import math

import pytest
import torch
import torch.nn.functional as F

from lecun1989.fused import resolve_backend
from lecun1989.loss import cross_entropy
from lecun1989.model import ModelConfig, build_model
from repro.train.steps import EagerStepper
from repro.train.task import TrainTask
from repro.train.optim import OptimConfig, build_optimizer, lr_factor


def test_cross_entropy_matches_torch_with_and_without_smoothing():
    out, y = torch.randn(7, 10), torch.randint(0, 10, (7,))
    assert torch.allclose(cross_entropy()(out, y), F.cross_entropy(out, y))
    assert torch.allclose(cross_entropy(0.1)(out, y), F.cross_entropy(out, y, label_smoothing=0.1))


@pytest.mark.parametrize("schedule,expected", [
    ("linear", [1.0, 0.5 * (1 + 1 / 3), 1 / 3]),
    ("cosine", [1.0, 0.5 * (1 + 1 / 3), 1 / 3]),
    ("onecycle", [1 / 3, None, 1 / 3]),
])
def test_schedules_start_and_end_where_stated(schedule, expected):
    cfg = OptimConfig(lr=3e-4, lr_final=1e-4, schedule=schedule, warmup=0.3)
    got = [lr_factor(cfg, 11, e) for e in (0, 5, 10)]
    for g, e in zip(got, expected):
        if e is not None:
            assert g == pytest.approx(e)


def test_onecycle_peaks_after_the_warmup_and_cosine_is_a_half_cosine():
    cfg = OptimConfig(lr=1.0, lr_final=0.04, schedule="onecycle", warmup=0.3)
    factors = [lr_factor(cfg, 11, e) for e in range(11)]
    assert max(factors) == pytest.approx(1.0) and factors.index(max(factors)) == 3
    cos = OptimConfig(lr=1.0, lr_final=0.0, schedule="cosine")
    assert lr_factor(cos, 5, 1) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_batchnorm_adds_exactly_its_affine_parameters():
    base, bn = build_model(ModelConfig(), 0), build_model(ModelConfig(norm="batch"), 0)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(base) == 9760 and n(bn) == 9760 + 2 * (12 + 12 + 30)
    bn.train()
    out = bn(torch.randn(8, 1, 16, 16))
    assert out.shape == (8, 10)
    # Same seed, same paper weights underneath: BatchNorm changed nothing else.
    assert all(torch.equal(base.state_dict()[k], bn.state_dict()[k]) for k in base.state_dict())


def test_mixed_precision_runs_the_forward_in_bf16_and_keeps_fp32_weights():
    model = build_model(ModelConfig(activation="relu", output_activation="none"), 0)
    opt = build_optimizer(model.parameters(), OptimConfig(name="adamw", lr=1e-3))
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    task = TrainTask(model=model, optimizer=opt, loss_fn=cross_entropy(), train=(torch.empty(0), torch.empty(0)), eval_sets={})
    before = model.h1_w.detach().clone()
    loss = EagerStepper(task, model, torch.device("cpu"), "bf16")(torch.randn(4, 1, 16, 16), torch.tensor([1, 2, 3, 4]))
    assert seen == [torch.bfloat16] and math.isfinite(loss)
    assert model.h1_w.dtype == torch.float32 and not torch.equal(model.h1_w, before)
    seen.clear()
    EagerStepper(task, model, torch.device("cpu"), "fp32")(torch.randn(4, 1, 16, 16), torch.tensor([1, 2, 3, 4]))
    assert seen == [torch.float32]


@pytest.mark.parametrize("model_cfg,optim,loss,batch,expected", [
    (ModelConfig(), OptimConfig(), "mse", 1, "fused_cpu"),  # the paper's recipe (augmentation or not)
    # the per-example tricks run on the C++ kernel too (tests/lecun1989/test_fused_tricks.py)
    (ModelConfig(output_activation="none"), OptimConfig(lr=0.01), "ce", 1, "fused_cpu"),
    (ModelConfig(activation="relu", dropout=0.25), OptimConfig(), "mse", 1, "fused_cpu"),
    (ModelConfig(), OptimConfig(name="adamw", lr=3e-4), "mse", 1, "fused_cpu"),
    (ModelConfig(), OptimConfig(momentum=0.9), "mse", 1, "eager"),  # SGD momentum: not in the kernel
    (ModelConfig(), OptimConfig(), "mse", 32, "eager"),  # the batched tricks stay eager
    (ModelConfig(norm="batch"), OptimConfig(), "mse", 32, "eager"),
])
def test_auto_backend_is_fused_only_for_what_the_kernel_implements(model_cfg, optim, loss, batch, expected):
    model = build_model(model_cfg, 0)
    assert resolve_backend("auto", model, build_optimizer(model.parameters(), optim), loss, batch) == expected
    assert resolve_backend("eager", model, build_optimizer(model.parameters(), optim), loss, batch) == "eager"


@pytest.mark.parametrize("backend,precision,stepper", [
    ("auto", "fp32", "FusedStepper"),  # the paper's recipe on the C++ kernel
    ("auto", "bf16", None),  # the kernel computes in float32: mixed precision runs eager
    ("eager", "fp32", None),
])
def test_build_task_picks_the_stepper_the_backend_names(backend, precision, stepper):
    from lecun1989.data import DataConfig
    from lecun1989.recipe import Recipe, TrainerConfig, build_task
    from repro.data import DigitSplits

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1, torch.arange(8) % 10
    digits = DigitSplits("usps", x, y, x, y)
    recipe = Recipe(data=DataConfig(), model=ModelConfig(), optim=OptimConfig(),
                    trainer=TrainerConfig(backend=backend, precision=precision, fused_chunk_steps=3))
    task, _, chosen = build_task(recipe, digits, seed=0)
    assert type(task.stepper).__name__ == stepper if stepper else task.stepper is None
    assert chosen == ("fused_cpu" if stepper else "eager")
    if stepper:  # chunks stop at fused_chunk_steps and at checkpoint boundaries
        assert task.stepper.chunk_end(0, 8, 0) == 3 and task.stepper.chunk_end(6, 8, 6) == 8

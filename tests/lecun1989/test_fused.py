"""The fused backends against the eager reference (lecun1989/fused/).

Tolerance: both backends compute the eager model's float32 arithmetic and differ
only in summation order (about 1 float32 ulp per sum). Per-example SGD carries
those differences forward through every later step, so after a pass of N steps
they grow to roughly sqrt(N) ulps of the weights' scale. Measured on a full
USPS pass (7,291 steps): max |difference| 1.2e-6 with weights up to 0.6.
We allow 1e-5 after a pass (and 2e-6 after 200 toy steps).
"""

import math
import shutil

import pytest
import torch

from lecun1989.fused import build, fused_steps
from lecun1989.fused.reference import eager_pass, max_weight_difference
from lecun1989.model import ModelConfig, build_model
from repro.config import ConfigError

HAS_GPU = torch.cuda.is_available()


def toy_examples(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 16, 16, generator=g) * 2 - 1
    return x, torch.randint(0, 10, (n,), generator=g)


def fused_pass(backend, cfg, xs, ys, device="cpu", lr=0.03):
    model = build_model(cfg, 0).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    step = fused_steps(backend, model, opt, "mse", 1)
    total = step(xs.to(device), ys.to(device))
    return model, total


def test_cpu_extension_builds():
    assert hasattr(build.cpu_extension(), "train_steps")


@pytest.mark.skipif(shutil.which("nvcc") is None and build._cuda_home() is None, reason="no nvcc on this machine")
@pytest.mark.skipif(torch.version.cuda is None, reason="torch is a CPU-only build; the CUDA build compiles the kernel")
def test_cuda_extension_compiles_without_a_gpu():
    assert hasattr(build.cuda_extension(), "train_steps")


CONFIGS = {
    "paper": ModelConfig(),
    "scaled_tanh": ModelConfig(activation="scaled_tanh", output_activation="scaled_tanh"),
    "full_h2_wide_h3": ModelConfig(h2_scheme="full", h3_units=40, init_fan_in_power=0.5, bias_init="zero"),
}


GPU_ONLY = pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU on this machine (the kernel's compile check runs above)")
BACKEND_CASES = [pytest.param("fused_cpu", name, id=f"fused_cpu-{name}") for name in CONFIGS] + [
    pytest.param("cuda_persistent", name, id=f"cuda_persistent-{name}", marks=GPU_ONLY) for name in CONFIGS
]


@pytest.mark.parametrize("backend,name", BACKEND_CASES)
def test_fused_backend_matches_eager(backend, name):
    cfg = CONFIGS[name]
    device = "cuda" if backend == "cuda_persistent" else "cpu"
    xs, ys = toy_examples(200)
    reference = build_model(cfg, 0)
    ref_loss = eager_pass(reference, xs, ys)
    fused, loss = fused_pass(backend, cfg, xs, ys, device=device)
    assert max_weight_difference(reference, fused) < 2e-6
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    # The run moved the weights: the comparison is not of two untouched copies.
    assert max_weight_difference(build_model(cfg, 0), fused) > 1e-2
    again, _ = fused_pass(backend, cfg, xs, ys, device=device)
    assert max_weight_difference(fused, again) == 0.0  # no atomics: bit-repeatable


def test_fused_cpu_is_repeatable_and_chunking_does_not_matter():
    xs, ys = toy_examples(120)
    a, la = fused_pass("fused_cpu", ModelConfig(), xs, ys)
    model = build_model(ModelConfig(), 0)
    step = fused_steps("fused_cpu", model, torch.optim.SGD(model.parameters(), lr=0.03), "mse", 1)
    lb = step(xs[:50], ys[:50]) + step(xs[50:], ys[50:])
    assert max_weight_difference(a, model) == 0.0
    assert la == pytest.approx(lb, rel=1e-12)


@pytest.mark.parametrize(
    "change,message",
    [
        # Both fused backends run the per-example tricks (test_fused_tricks.py, test_fused_cuda_tricks.py);
        # the batched ones and anything but plain SGD or AdamW stay eager.
        (dict(cfg=ModelConfig(activation="none"), backend="cuda_persistent"), "model.activation=none"),
        (dict(cfg=ModelConfig(norm="batch"), backend="cuda_persistent"), "model.norm=batch"),
        (dict(batch_size=8), "trainer.batch_size=8 \\(trick minibatch"),
        (dict(cfg=ModelConfig(norm="batch")), "model.norm=batch \\(trick batchnorm"),
        (dict(momentum=0.9), "momentum"),
        (dict(backend="turbo"), "choose one of eager, fused_cpu, cuda_persistent"),
    ],
)
def test_unsupported_recipes_are_refused_by_name(change, message):
    model = build_model(change.get("cfg", ModelConfig()), 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=change.get("momentum", 0.0))
    with pytest.raises(ConfigError, match=message):
        fused_steps(change.get("backend", "fused_cpu"), model, opt, change.get("loss", "mse"), change.get("batch_size", 1))


def test_cuda_backend_needs_a_cuda_model():
    model = build_model(ModelConfig(), 0)
    with pytest.raises(ConfigError, match="trainer.device=cuda"):
        fused_steps("cuda_persistent", model, torch.optim.SGD(model.parameters(), lr=0.03), "mse", 1)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["fused_cpu", pytest.param("cuda_persistent", marks=pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU"))])
def test_one_real_usps_pass_matches_eager(shared_data_root, backend):
    from repro.data import load_usps

    d = load_usps(shared_data_root, download=False)
    torch.set_num_threads(1)
    reference = build_model(ModelConfig(), 0)
    eager_pass(reference, d.x_train, d.y_train)
    fused, _ = fused_pass(backend, ModelConfig(), d.x_train, d.y_train, device="cuda" if backend == "cuda_persistent" else "cpu")
    assert max_weight_difference(reference, fused) < 1e-5


def _eager_first_non_finite(cfg, xs, ys, lr):
    """The 1-based step whose loss first goes non-finite, one eager SGD step per example."""
    from lecun1989.loss import mse_pm1

    model = build_model(cfg, 0)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for i in range(len(ys)):
        loss = mse_pm1(model(xs[i : i + 1]), ys[i : i + 1])
        if not torch.isfinite(loss):
            return i + 1
        opt.zero_grad()
        loss.backward()
        opt.step()
    return None


@pytest.mark.parametrize("optim", ["sgd", "adamw"])
def test_a_diverged_chunk_names_the_step_its_loss_first_went_non_finite(optim):
    """The kernel returns a chunk's summed loss; FusedStepper replays a non-finite chunk step by step
    so the run reports the step eager reports, not the chunk's end (issue 37, item 11)."""
    from lecun1989.fused.stepper import FusedStepper

    cfg = ModelConfig(activation="relu")
    xs, ys = toy_examples(200)
    lr = 1e30 if optim == "sgd" else 1e12
    model = build_model(cfg, 0)
    opt = (torch.optim.SGD(model.parameters(), lr=lr) if optim == "sgd"
           else torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0))
    stepper = FusedStepper(fused_steps("fused_cpu", model, opt, "mse", 1))
    assert stepper.chunk_end(0, len(ys), 0) == len(ys)  # one chunk: the whole pass
    stepper(xs, ys)  # its summed loss may stay finite (the kernel's tanh clamps) while the weights are not
    assert not all(bool(torch.isfinite(p).all()) for p in model.parameters())
    # Where a single-step replay of a fresh model says it diverged (and, for SGD, eager too).
    fresh = build_model(cfg, 0)
    fresh_opt = type(opt)(fresh.parameters(), **{k: opt.defaults[k] for k in ("lr", "weight_decay")})
    one = FusedStepper(fused_steps("fused_cpu", fresh, fresh_opt, "mse", 1))
    expected = None
    for i in range(len(ys)):
        one.chunk_end(i, len(ys), i)  # a chunk of one step: step i of pass 0
        if not (math.isfinite(one(xs[i : i + 1], ys[i : i + 1]))
                and all(bool(torch.isfinite(p).all()) for p in fresh.parameters())):
            expected = i + 1
            break
    assert stepper.first_non_finite == expected < len(ys)
    if optim == "sgd":
        assert expected == _eager_first_non_finite(cfg, xs, ys, lr)

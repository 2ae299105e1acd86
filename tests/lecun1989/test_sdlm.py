"""optim=sdlm, the paper's stochastic diagonal Levenberg-Marquardt (lecun1989/sdlm.py, net1989_cpu.cpp).

1. The curvature h against an independent computation in float64: per example, the Jacobians of every
   layer by autograd (torch.autograd.functional.jacobian of the layer as a function of its input and of
   its weights), and per layer diag(J^T D J), D the diagonal curvature arriving from above and, at the
   top, the loss's own Hessian w.r.t. the outputs (autograd too). The method keeps the diagonal at
   every layer (LeCun et al. 1998, appendix C: off-diagonal terms dropped), so that is the quantity;
   for the last two layers it is also the whole network's diag(J^T D J), checked separately. The
   network is the paper's: shared H1/H2 kernels, H2's 8-of-12 connections, per-unit biases, -1 padding.
2. Fused against eager: the same h on real USPS digits, and the same weights after SDLM steps.
3. The step-size formula, mu and the eps schedule as `lecun1989 optim=sdlm` composes them.

Tolerances: float64 against float64 (1e-10 relative); float32 kernels against float32 PyTorch differ in
summation order only. h on 500 USPS digits, against the float64 value: fused within 2e-6 relative, eager
within 1.6e-5 (H1's kernels: conv2d_weight sums 500 x 64 terms per entry), so 5e-5 between them; weights
after 2 x 150 steps: 2e-6 (as test_fused.py's SGD).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd.functional import hessian, jacobian

from lecun1989.fused import fused_curvature, fused_steps, unsupported
from lecun1989.loss import mse_pm1
from lecun1989.model import ModelConfig, build_model
from lecun1989.recipe import recipe_from_config
from lecun1989.sdlm import PARAMS, SDLM, SDLMConfig, eager_curvature, gauss_newton_diag, sample_indices
from repro.config import ConfigError


def composed(*overrides: str) -> dict:
    """The config `lecun1989 <overrides>` runs (as tests/lecun1989/test_paper_recipe.py composes it)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from lecun1989.cli import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("lecun1989", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(autouse=True)
def one_thread():
    """Per-example work on tiny tensors: one torch thread (two spin against each other on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy(n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 16, 16, generator=g) * 2 - 1).to(dtype), torch.randint(0, 10, (n,), generator=g)


def _f(cfg, name):
    amp, slope = {"tanh": (1.0, 1.0), "scaled_tanh": (1.7159, 2 / 3)}[name]
    return lambda a: amp * torch.tanh(slope * a)


def reference_h(model, xs, ys):
    """h by layer-wise autograd Jacobians: D_out = d2E/dy2 (autograd), then per layer (top down)
    h_w += diag(J_w^T D J_w), D_x = diag(J_x^T D J_x), D_a = diag(J_f^T D_x J_f); averaged over examples."""
    cfg, p = model.cfg, model.PAD
    f, f_out = _f(cfg, cfg.activation), _f(cfg, cfg.effective_output_activation)
    inputs = model.h2_inputs

    def l1(x, w, b):
        return F.conv2d(F.pad(x, (p, p, p, p), value=cfg.pad_value), w, stride=2) + b

    def l2(y1, w, b):  # the grouped formulation: each H2 map convolves only its own 8 H1 maps
        y = F.pad(y1.index_select(1, inputs), (p, p, p, p), value=cfg.pad_value)
        return F.conv2d(y, w, stride=2, groups=cfg.h2_maps) + b

    def l3(y2, w, b):
        return F.linear(y2.flatten(1), w, b)

    def l4(y3, w, b):
        return F.linear(y3, w, b)

    layers = [("h1", l1), ("h2", l2), ("h3", l3), ("out", l4)]
    total = {k: torch.zeros_like(getattr(model, k)) for k in PARAMS}
    for i in range(len(ys)):
        x, y = xs[i : i + 1], ys[i : i + 1]
        ins, pre = [x], []
        for name, fn in layers:
            a = fn(ins[-1], getattr(model, f"{name}_w").detach(), getattr(model, f"{name}_b").detach())
            pre.append(a)
            ins.append((f_out if name == "out" else f)(a))
        out = ins[-1]
        d_y = hessian(lambda o: mse_pm1(o, y), out.detach()).reshape(out.numel(), out.numel())
        j = jacobian(f_out, pre[-1], vectorize=True).reshape(out.numel(), -1)
        d = torch.diagonal(j.T @ d_y @ j)  # curvature at the output pre-activations
        for li in range(len(layers) - 1, -1, -1):
            name, fn = layers[li]
            w, b, x_in = getattr(model, f"{name}_w").detach(), getattr(model, f"{name}_b").detach(), ins[li]
            if li == 0:  # the input's curvature is not needed
                jw, jb = jacobian(lambda w_, b_: fn(x_in, w_, b_), (w, b), vectorize=True)
            else:
                jx, jw, jb = jacobian(fn, (x_in, w, b), vectorize=True)
            n = d.numel()
            for key, jac, ref in ((f"{name}_w", jw, w), (f"{name}_b", jb, b)):
                jac = jac.reshape(n, -1)
                total[key] += torch.diagonal(jac.T @ (d[:, None] * jac)).reshape(ref.shape)
            if li == 0:
                break
            jx = jx.reshape(n, -1)
            d_x = torch.diagonal(jx.T @ (d[:, None] * jx))
            jf = jacobian(f, pre[li - 1], vectorize=True).reshape(d_x.numel(), -1)
            d = torch.diagonal(jf.T @ (d_x[:, None] * jf))
    return {k: v / len(ys) for k, v in total.items()}


@pytest.mark.parametrize("activation", ["tanh", "scaled_tanh"])
def test_curvature_equals_layerwise_autograd_jacobians_fp64(activation):
    torch.manual_seed(0)
    model = build_model(ModelConfig(activation=activation), 0).double()
    xs, ys = toy(2)
    ours = gauss_newton_diag(model, xs)
    ref = reference_h(model, xs, ys)
    for k in PARAMS:
        assert ours[k].shape == getattr(model, k).shape
        assert (ours[k] >= 0).all(), f"{k}: h must be positive by construction"
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-10, atol=1e-14, msg=f"{k} differs from diag(J^T D J)")
    # Every H2 weight is used by 16 units (shared) and only for its own H1 map: the reference did not
    # know our scatter; a wrong connection table would show here.
    assert ours["h2_w"].abs().min() > 0


def test_the_top_two_layers_are_the_whole_networks_gauss_newton_diagonal():
    """For H3 and the outputs no off-diagonal term is dropped: h is exactly diag(J^T D J) with J the
    Jacobian of the 10 outputs w.r.t. those weights (torch.func over the whole network)."""
    model = build_model(ModelConfig(), 1).double()
    xs, ys = toy(2, seed=1)
    ours = gauss_newton_diag(model, xs)
    names = ("h3_w", "h3_b", "out_w", "out_b")
    params = {k: v.detach() for k, v in model.named_parameters()}
    total = {k: torch.zeros_like(params[k]) for k in names}
    for i in range(len(ys)):
        def outputs(*ws):
            return torch.func.functional_call(model, {**params, **dict(zip(names, ws))}, (xs[i : i + 1],))[0]

        jac = jacobian(outputs, tuple(params[k] for k in names), vectorize=True)
        d = hessian(lambda o: mse_pm1(o[None], ys[i : i + 1]), outputs(*(params[k] for k in names)).detach())
        for k, j in zip(names, jac):
            j = j.reshape(10, -1)
            total[k] += torch.diagonal(j.T @ d @ j).reshape(params[k].shape)
    for k in names:
        torch.testing.assert_close(ours[k], total[k] / len(ys), rtol=1e-10, atol=1e-14)


def test_step_size_formula_and_the_update():
    """w -= eps / (mu + h) * g, per parameter, with h re-estimated at the first step of each pass only."""
    model = build_model(ModelConfig(), 0)
    cfg = SDLMConfig(lr_later=(0.0002,), milestones=(1,))
    calls = []
    h = [torch.full_like(p, 0.5) for p in model.parameters()]

    def curvature(pass_):
        calls.append(pass_)
        return h

    opt = SDLM(model.parameters(), cfg, steps_per_pass=3, curvature=curvature)
    xs, ys = toy(7, dtype=torch.float32)
    for i in range(7):
        before = [p.detach().clone() for p in model.parameters()]
        opt.zero_grad()
        mse_pm1(model(xs[i : i + 1]), ys[i : i + 1]).backward()
        grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
        eps = cfg.eps(i // 3)
        assert opt.param_groups[0]["lr"] == eps
        for p, b, g in zip(model.parameters(), before, grads):
            torch.testing.assert_close(p.detach(), b - (eps / (0.02 + 0.5)) * g, rtol=0, atol=1e-7)
    assert calls == [0, 1, 2], "h is re-estimated before each pass, and only then"


def test_the_command_composes_the_1998_values_counted_in_updates():
    recipe, applied = recipe_from_config(composed("optim=sdlm"))
    assert applied == ()
    o = recipe.optim
    assert isinstance(o, SDLMConfig) and o.name == "sdlm"
    assert o.mu == 0.02, "LeCun et al. 1998, III.A: mu = 0.02 (kept on validation)"
    assert o.hessian_sample == 500, "1998: h re-estimated on 500 patterns before each pass"
    # 1998: 0.0005 for the first two passes of 60,000 (120,000 updates), then 0.0002 for three more
    # (to 300,000). Counted in updates (chosen on validation): 16 USPS passes of 7,291 = 116,656 updates.
    expected = [5e-4] * 16 + [2e-4] * 7
    assert [o.eps(e) for e in range(recipe.trainer.epochs)] == expected
    assert recipe.trainer.epochs == 23 and recipe.trainer.batch_size == 1 and recipe.loss == "mse"
    assert (o.momentum, o.weight_decay, o.schedule) == (0.0, 0.0, "constant")
    # The 1998 schedule per pass, as README's override spells it: 0.0005 for two passes, 0.0002 for three,
    # 0.0001 for three, 0.00005 for four, then 0.00001.
    per_pass, _ = recipe_from_config(composed("optim=sdlm", "optim.milestones=[2,5,8,12]",
                                              "optim.lr_later=[0.0002,0.0001,0.00005,0.00001]"))
    assert [per_pass.optim.eps(e) for e in range(23)] == [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 11


def test_sample_is_fixed_per_pass_and_seed():
    a, b = sample_indices(7291, 500, 0, 3), sample_indices(7291, 500, 0, 3)
    assert torch.equal(a, b) and len(a.unique()) == 500 and a.max() < 7291
    assert not torch.equal(a, sample_indices(7291, 500, 0, 4))
    assert not torch.equal(a, sample_indices(7291, 500, 1, 3))
    assert torch.equal(sample_indices(100, 500, 0, 0), torch.arange(100))


def test_refusals_name_what_sdlm_does_not_run():
    model = build_model(ModelConfig(), 0)
    opt = SDLM(model.parameters(), SDLMConfig(), steps_per_pass=10)
    assert any("optim=sdlm" in p for p in unsupported(model, opt, "mse", 1, "cuda_persistent"))
    assert unsupported(model, opt, "mse", 1, "fused_cpu") == []
    with pytest.raises(ConfigError, match="optim=sdlm.*loss=ce"):
        from lecun1989.recipe import build_task
        from repro.data import DigitSplits

        recipe, _ = recipe_from_config(composed("optim=sdlm", "loss=ce", "model.output_activation=none"))
        x, y = toy(4, dtype=torch.float32)
        build_task(recipe, DigitSplits(name="toy", x_train=x, y_train=y, x_test=x, y_test=y), 0)
    with pytest.raises(ConfigError, match="lr_later"):
        recipe_from_config(composed("optim=sdlm", "optim.milestones=[2,5]"))


@pytest.fixture(scope="module")
def usps(shared_data_root):
    from repro.data import load_usps

    return load_usps(shared_data_root, download=False)


@pytest.mark.integration
@pytest.mark.parametrize("activation", ["tanh", "scaled_tanh"])
def test_fused_curvature_equals_eager_on_usps(usps, activation):
    model = build_model(ModelConfig(activation=activation), 0)
    eager = eager_curvature(model, usps.x_train, 500, seed=0)(0)
    fused = fused_curvature(model, usps.x_train, 500, seed=0)(0)
    for k, e, f in zip(PARAMS, eager, fused):
        assert e.abs().max() > 0
        torch.testing.assert_close(f, e, rtol=5e-5, atol=1e-6 * e.abs().max().item(), msg=f"{k}: fused h differs from eager")


@pytest.mark.integration
def test_fused_sdlm_steps_equal_eager_on_usps(usps):
    """Two passes of 150 USPS digits (h on 100 of them before each): the same h and weights."""
    xs, ys = usps.x_train[:150].contiguous(), usps.y_train[:150].contiguous()
    # eps 4x and 2x the 1998 values: steps up to 0.1, so the weights move well beyond the tolerance.
    cfg = SDLMConfig(lr=0.002, lr_later=(0.001,), milestones=(1,), hessian_sample=100)
    ref, fast = build_model(ModelConfig(), 0), build_model(ModelConfig(), 0)
    opt_ref = SDLM(ref.parameters(), cfg, 150, eager_curvature(ref, xs, 100, seed=0))
    opt_fast = SDLM(fast.parameters(), cfg, 150, fused_curvature(fast, xs, 100, seed=0))
    steps = fused_steps("fused_cpu", fast, opt_fast, "mse", 1)
    start = [p.detach().clone() for p in ref.parameters()]
    for pass_ in range(2):
        for i in range(150):
            opt_ref.zero_grad()
            mse_pm1(ref(xs[i : i + 1]), ys[i : i + 1]).backward()
            opt_ref.step()
        steps(xs, ys, pass_, 0)
        for p, q in zip(ref.parameters(), fast.parameters()):
            h = opt_ref.state[p]["h"]
            torch.testing.assert_close(opt_fast.state[q]["h"], h, rtol=5e-5, atol=1e-6 * h.abs().max().item())
    moved = max((p.detach() - s).abs().max().item() for p, s in zip(ref.parameters(), start))
    assert moved > 1e-2, "the steps must move the weights for the comparison to mean anything"
    for k, p, q in zip(PARAMS, ref.parameters(), fast.parameters()):
        torch.testing.assert_close(q.detach(), p.detach(), rtol=0, atol=2e-6, msg=f"{k}: fused weights differ from eager")
    assert opt_fast.steps_taken == opt_ref.steps_taken == 300

"""The convolution kernels (implicit GEMM) against F.conv2d in fp64: values and the
three gradients, AlexNet's exact layer geometries, odd shapes, groups, strides
the kernel skips over, the fused ReLU, non-contiguous inputs, fp32 and bf16,
autocast; on the CPU path here (which evaluates the same index functions as the
GPU kernels) and on the GPU where one is present. And the custom conv and fc layers:
nn.Conv2d's and nn.Linear's parameters, the ReLU fused into their epilogue."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alexnet2012.kernels.bias_relu import BiasReLU
from alexnet2012.kernels.conv import Conv2d, Linear, conv2d, conv2d_reference
from alexnet2012.ops.fusion import activate, without_bias

from .conftest import DEVICES, DTYPES, close, leaf, noncontiguous

# (batch, C_in, H, W, C_out, k, stride, padding, groups)
CASES = {
    # AlexNet's layers (paper geometry, fewer maps and pixels so the CPU path stays quick)
    "conv1 11x11/4 pad 2": (2, 3, 39, 39, 8, 11, 4, 2, 1),
    "conv1 11x11/4 no pad (227)": (1, 3, 35, 35, 6, 11, 4, 0, 1),
    "conv2 5x5 pad 2, towers": (2, 8, 9, 9, 12, 5, 1, 2, 2),
    "conv3 3x3 pad 1, both towers": (2, 12, 6, 6, 10, 3, 1, 1, 1),
    "conv4/5 3x3 pad 1, towers": (3, 10, 5, 5, 8, 3, 1, 1, 2),
    # odd shapes
    "odd sizes, 3 groups": (3, 9, 7, 5, 6, 3, 1, 1, 3),
    "stride 2 pad 0": (1, 4, 8, 7, 5, 3, 2, 0, 1),
    "stride 3 > kernel 2 (skipped taps)": (2, 4, 10, 9, 6, 2, 3, 1, 2),
    "kernel 4, stride 3, pad 1": (2, 4, 11, 11, 6, 4, 3, 1, 2),
    "1x1": (2, 5, 4, 3, 7, 1, 1, 0, 1),
    "output 1x1": (2, 3, 5, 5, 4, 5, 1, 0, 1),
    "more rows than a tile (C_out 70, K 135)": (1, 15, 6, 6, 70, 3, 1, 1, 1),
    # long reductions: on the GPU these split K (forward: conv2's real 48*5*5 per tower; weight gradient: 8*32*32)
    "conv2 real maps, towers": (2, 96, 7, 7, 256, 5, 1, 2, 2),
    "weight gradient over 8192 pixels": (8, 4, 32, 32, 8, 3, 1, 1, 1),
}


def inputs(case, dtype, device, bias=True):
    n, cin, h, w, cout, k, s, p, g = case
    gen = torch.Generator().manual_seed(sum(case))
    x = torch.randn(n, cin, h, w, generator=gen).to(device, dtype)
    wt = (torch.randn(cout, cin // g, k, k, generator=gen) / k).to(device, dtype)
    b = torch.randn(cout, generator=gen).to(device) if bias else None
    return x, wt, b, (s, p, g)


def run_both(x, wt, b, geometry, relu, input_grad=True):
    """Our op and the fp64 reference, each with its gradients under one random upstream gradient
    (the input's gradient is None where input_grad is False)."""
    ours_in = [leaf(x) if input_grad else x, leaf(wt)] + ([leaf(b)] if b is not None else [])
    out = conv2d(ours_in[0], ours_in[1], ours_in[2] if b is not None else None, *geometry, relu=relu)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out.float() * upstream.to(out.device)).sum().backward()
    ref_in = [leaf(t.detach().double().cpu()) for t in (x, wt) + ((b,) if b is not None else ())]
    if not input_grad:
        ref_in[0] = ref_in[0].detach()
    ref = conv2d_reference(ref_in[0], ref_in[1], ref_in[2] if b is not None else None, *geometry, relu=relu)
    (ref * upstream.double()).sum().backward()
    return out, ref, [t.grad for t in ours_in], [t.grad for t in ref_in]


def assert_matches(out, ref, grads, ref_grads, dtype):
    close(out, ref, dtype, scale=ref.abs().max().item())
    for got, want, name in zip(grads, ref_grads, ("x", "weight", "bias")):
        if want is None:
            assert got is None, name
            continue
        assert want.abs().max() > 0, name
        close(got, want, dtype, scale=want.abs().max().item())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_conv_matches_conv2d(device, dtype, name):
    x, wt, b, geometry = inputs(CASES[name], dtype, device)
    out, ref, grads, ref_grads = run_both(x, wt, b, geometry, relu=False)
    assert out.shape == ref.shape and out.dtype == dtype and out.device.type == device
    assert_matches(out, ref, grads, ref_grads, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["conv1 11x11/4 pad 2", "conv2 5x5 pad 2, towers", "odd sizes, 3 groups"])
def test_fused_relu_epilogue_matches_relu_of_conv2d(device, dtype, name):
    x, wt, b, geometry = inputs(CASES[name], dtype, device)
    out, ref, grads, ref_grads = run_both(x, wt, b, geometry, relu=True)
    assert (ref == 0).float().mean() > 0.2  # the ReLU really cuts
    assert_matches(out, ref, grads, ref_grads, dtype)


@pytest.mark.parametrize("device", DEVICES)
def test_without_bias_and_with_noncontiguous_inputs(device):
    x, wt, _, geometry = inputs(CASES["conv2 5x5 pad 2, towers"], torch.float32, device, bias=False)
    out, ref, grads, ref_grads = run_both(noncontiguous(x), noncontiguous(wt), None, geometry, relu=False)
    assert_matches(out, ref, grads, ref_grads, torch.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_is_deterministic(device):
    # Fixed reduction orders (and a split-K count fixed by the shape): bitwise equal reruns.
    x, wt, b, geometry = inputs(CASES["conv1 11x11/4 pad 2"], torch.float32, device)
    results = []
    for _ in range(2):
        _, _, grads, _ = run_both(x, wt, b, geometry, relu=True)
        results.append(grads)
    for a, c in zip(*results):
        assert torch.equal(a, c)


@pytest.mark.parametrize("device", DEVICES)
def test_input_gradient_is_skipped_when_not_needed(device):
    # conv1's input is the image: its data gradient (the costly stride-4 gather) is never computed.
    x, wt, b, geometry = inputs(CASES["conv1 11x11/4 pad 2"], torch.float32, device)
    w = leaf(wt)
    conv2d(x, w, b, *geometry, relu=True).sum().backward()
    assert w.grad is not None and x.grad is None


def test_bf16_under_autocast_keeps_fp32_weights():
    x, wt, b, geometry = inputs(CASES["conv3 3x3 pad 1, both towers"], torch.float32, "cpu")
    w = leaf(wt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv2d(x, w, b, *geometry)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert w.grad.dtype == torch.float32
    ref = conv2d_reference(x.bfloat16().double(), wt.bfloat16().double(), b.double(), *geometry)
    close(out, ref, torch.bfloat16, scale=ref.abs().max().item())


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    x, wt, b, geometry = inputs((0, 4, 6, 6, 5, 3, 1, 1, 1), torch.float32, device)
    x, w = leaf(x), leaf(wt)
    out = conv2d(x, w, b, *geometry)
    assert out.shape == (0, 5, 6, 6)
    out.sum().backward()
    assert torch.equal(w.grad, torch.zeros_like(w)) and x.grad.shape == x.shape


def test_custom_conv_layer_keeps_nn_conv2d_parameters_and_fuses_relu():
    torch.manual_seed(0)
    ours, theirs = Conv2d(6, 8, 5, stride=1, padding=2, groups=2), nn.Conv2d(6, 8, 5, padding=2, groups=2)
    ours.load_state_dict(theirs.state_dict())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = torch.randn(2, 6, 9, 9)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    for relu in (nn.ReLU(), BiasReLU()):
        torch.testing.assert_close(activate(ours, relu, x), torch.relu(theirs(x)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="kernel_size must be one int"):
        Conv2d(6, 8, (3, 5))


def test_custom_fc_layer_is_nn_linear_on_the_conv_kernels():
    torch.manual_seed(0)
    ours, theirs = Linear(300, 70), nn.Linear(300, 70)  # K > 256 and M > 64: several tiles
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 300)
    for fn in (lambda m: m(x), lambda m: activate(m, nn.ReLU(), x), lambda m: activate(m, BiasReLU(), x)):
        ours.zero_grad()
        theirs.zero_grad()
        got, want = fn(ours), fn(theirs)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        upstream = torch.randn_like(want)
        (got * upstream).sum().backward()
        (want * upstream).sum().backward()
        for a, b in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
            assert b.grad.abs().max() > 0
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(without_bias(ours, x), x @ theirs.weight.T, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"input must be \[N, 300\]"):
        ours(torch.randn(2, 3, 300))


# The paper's five layers exactly (224 input, conv1 padding 2), one image.
ALEXNET_LAYERS = {
    "conv1": (1, 3, 224, 224, 96, 11, 4, 2, 1),
    "conv2": (1, 96, 27, 27, 256, 5, 1, 2, 2),
    "conv3": (1, 256, 13, 13, 384, 3, 1, 1, 1),
    "conv4": (1, 384, 13, 13, 384, 3, 1, 1, 2),
    "conv5": (1, 384, 13, 13, 256, 3, 1, 1, 2),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(ALEXNET_LAYERS))
def test_alexnet_layers_at_full_size(device, name):
    x, wt, b, geometry = inputs(ALEXNET_LAYERS[name], torch.float32, device)
    # conv1's input is the image: no data gradient (training never computes it)
    out, ref, grads, ref_grads = run_both(x, wt, b, geometry, relu=True, input_grad=name != "conv1")
    size = 55 if name == "conv1" else ALEXNET_LAYERS[name][2]  # Figure 2's maps: 55, 27, 13, 13, 13
    assert out.shape == (1, ALEXNET_LAYERS[name][4], size, size)
    assert_matches(out, ref, grads, ref_grads, torch.float32)

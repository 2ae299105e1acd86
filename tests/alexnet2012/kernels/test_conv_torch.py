"""The "torch" convolution layer's per-device formulations (kernels/conv_torch.py) against the one
it replaced ("direct": nn.Conv2d on the input as given): the space-to-depth weight gradient, the
channels_last CPU path, values and gradients, layer by layer and for the whole two-tower AlexNet."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from alexnet2012.kernels.conv_torch import Conv2d, space_to_depth, weight_grad_space_to_depth
from alexnet2012.model import PAPER_PARAMS, AlexNetConfig, build_loss, build_model
from alexnet2012.ops import OpsConfig, make


def test_space_to_depth_puts_each_phase_in_its_own_channel():
    x = torch.arange(2 * 4 * 6, dtype=torch.float64).reshape(1, 2, 4, 6)
    xs = space_to_depth(x, 2)
    assert xs.shape == (1, 8, 2, 3)
    # channel (c=1, row phase 1, column phase 0): rows 1, 3 and columns 0, 2, 4 of map 1
    assert xs[0, 4 + 2].tolist() == x[0, 1, 1::2, 0::2].tolist()


@pytest.mark.parametrize("size,kernel,stride,padding", [
    (35, 11, 4, 2),   # conv1's 11x11 stride 4 pad 2, cut down (K = 12: one padding tap per row)
    (39, 11, 4, 0),   # the 227-pixel variant's pad 0
    (17, 5, 2, 1),    # odd kernel, stride 2
    (13, 4, 4, 1),    # kernel = stride: no padding taps
    (10, 3, 3, 0),    # the last rows unread by the output (the input is cropped)
])
def test_space_to_depth_weight_gradient_is_the_convolutions(size, kernel, stride, padding):
    torch.manual_seed(size)
    x = torch.randn(3, 3, size, size + 1, dtype=torch.float64)
    w = torch.randn(5, 3, kernel, kernel, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w, None, stride, padding)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    ours = weight_grad_space_to_depth(g, x, kernel, stride, padding)
    torch.testing.assert_close(ours, w.grad, rtol=1e-12, atol=1e-12)
    assert w.grad.abs().min() > 0  # every tap sees input: a dropped or shifted tap would show


def pair(formulation: str, dtype: torch.dtype, **conv):
    direct = Conv2d(**conv, formulation="direct").to(dtype)
    other = Conv2d(**conv, formulation=formulation).to(dtype)
    other.load_state_dict(direct.state_dict())
    return direct, other


LAYERS = {  # AlexNet's layer kinds, small maps
    "conv1": dict(in_channels=3, out_channels=8, kernel_size=11, stride=4, padding=2, groups=1),
    "conv2": dict(in_channels=8, out_channels=12, kernel_size=5, stride=1, padding=2, groups=2),
    "conv3": dict(in_channels=12, out_channels=10, kernel_size=3, stride=1, padding=1, groups=1),
}


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_cpu_formulation_matches_direct_values_and_gradients(layer, dtype, rtol):
    torch.manual_seed(0)
    direct, cpu = pair("cpu", dtype, **LAYERS[layer])
    size = 31 if layer == "conv1" else 9
    x = torch.randn(4, LAYERS[layer]["in_channels"], size, size, dtype=dtype) * 3
    xd, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
    yd, yc = direct(xd), cpu(xc)
    assert yc.is_contiguous(memory_format=torch.channels_last) and yd.is_contiguous()
    torch.testing.assert_close(yc, yd, rtol=rtol, atol=rtol * yd.abs().max().item())
    g = torch.randn_like(yd)
    (yd * g).sum().backward()
    (yc * g).sum().backward()
    for name, want, got in (("x", xd.grad, xc.grad), ("weight", direct.weight.grad, cpu.weight.grad),
                            ("bias", direct.bias.grad, cpu.bias.grad)):
        assert want.abs().max() > 0, name
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * want.abs().max().item(), msg=name)


def test_auto_is_the_cpu_formulation_on_the_cpu_and_the_registry_names():
    conv = make("conv", "torch", **LAYERS["conv2"])
    assert conv.formulation == "auto" and conv.resolved(torch.device("cpu")) == "cpu"
    assert conv.resolved(torch.device("cuda")) == "direct"
    assert make("conv", "torch_direct", **LAYERS["conv2"]).resolved(torch.device("cpu")) == "direct"
    with pytest.raises(ValueError, match="formulation"):
        Conv2d(3, 4, 3, formulation="dense")


SMALL = AlexNetConfig(input_size=67, conv1_kernel=11, conv1_stride=4, conv1_padding=2, channels=(8, 16, 24, 24, 16),
                      fc_width=32, num_classes=10, dropout=0.0, init="torch_default")


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_two_tower_alexnet_on_the_cpu_formulation_matches_direct(dtype, rtol):
    # The whole net: channels_last from conv1 through the tower LRN and pooling to fc6, conv1's
    # space-to-depth weight gradient, the grouped conv2/4/5; against the direct convolutions.
    direct = build_model(dataclasses.replace(SMALL, ops=OpsConfig(conv="torch_direct")), 0).to(dtype)
    auto = build_model(SMALL, 0).to(dtype)
    assert auto.conv1.formulation == "auto" and direct.conv1.formulation == "direct"
    auto.load_state_dict(direct.state_dict())
    torch.manual_seed(0)
    x, y = torch.randn(6, 3, 67, 67, dtype=dtype) * 3, torch.arange(6)
    outs, grads = [], []
    for model in (direct, auto):
        loss = build_loss(model.cfg)(model(x), y)
        loss.backward()
        outs.append(loss.detach())
        grads.append({n: p.grad for n, p in model.named_parameters()})
    torch.testing.assert_close(outs[1], outs[0], rtol=rtol, atol=0)
    for name, want in grads[0].items():
        assert want.abs().max() > 0, name
        torch.testing.assert_close(grads[1][name], want, rtol=rtol, atol=rtol * want.abs().max().item(), msg=name)


def test_paper_parameter_counts_are_unchanged():
    with torch.device("meta"):
        from alexnet2012.model import AlexNet

        model = AlexNet(AlexNetConfig())
    assert isinstance(model.conv2, Conv2d) and model.conv2.groups == 2
    assert model.counts()["total"] == PAPER_PARAMS


@pytest.mark.parametrize("kind", ["conv", "fc"])
def test_relu_after_a_torch_layer_runs_in_place_on_the_cpu_with_the_same_values_and_gradients(kind):
    from torch import nn

    from alexnet2012.ops.fusion import activate

    torch.manual_seed(0)
    layer = make("conv", "torch", **LAYERS["conv2"]) if kind == "conv" else nn.Linear(10, 7)
    x = torch.randn(3, 8, 9, 9) if kind == "conv" else torch.randn(3, 10)
    seen = []
    layer.register_forward_hook(lambda module, inputs, output: seen.append(output.data_ptr()))
    y = activate(layer, nn.ReLU(), x)
    assert seen == [y.data_ptr()]  # the layer's own output buffer, overwritten by the ReLU
    y.square().sum().backward()
    fused = {n: p.grad.clone() for n, p in layer.named_parameters()}
    layer.zero_grad()
    ref = torch.relu(layer(x))
    ref.square().sum().backward()
    assert torch.equal(y, ref) and (ref == 0).any() and (ref > 0).any()
    for name, p in layer.named_parameters():
        assert torch.equal(fused[name], p.grad), name

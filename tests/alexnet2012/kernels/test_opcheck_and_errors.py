"""torch.library.opcheck on every op (schema, fake tensors, autograd registration,
AOT dispatch), and clear errors for bad arguments."""

from __future__ import annotations

import pytest
import torch

from alexnet2012.kernels.bias_relu import bias_relu
from alexnet2012.kernels.conv import conv2d
from alexnet2012.kernels.dropout import dropout
from alexnet2012.kernels.library import OPS, ensure_built
from alexnet2012.kernels.lrn import lrn
from alexnet2012.kernels.maxpool import max_pool
from alexnet2012.kernels.softmax_xent import softmax_cross_entropy

from .conftest import DEVICES


def cases(device: str):
    ensure_built()  # the raw ops below, called before any public function
    g = torch.Generator().manual_seed(0)

    def t(*shape, grad=False, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device).requires_grad_(grad)

    x = t(2, 6, 5, 7, grad=True, scale=10)
    y, scale = OPS.lrn_forward(x.detach(), 5, 1e-2, 0.75, 2.0, 2)
    p, argmax = OPS.maxpool_forward(x.detach(), 3, 2, 0)
    r = OPS.bias_relu(x.detach(), t(6))
    logits, labels = t(4, 10, grad=True), torch.tensor([1, 0, 9, 3], device=device)
    _, lse = OPS.softmax_xent(logits.detach(), labels)
    w = t(4, 3, 3, 3, grad=True)  # 6 -> 4 channels in 2 groups, 3x3
    conv_y = OPS.conv_forward(x.detach(), w.detach(), None, 2, 1, 2, False)
    return {
        "conv_forward": (OPS.conv_forward.default, (x, w, t(4, grad=True), 2, 1, 2, False)),
        "conv_forward_relu": (OPS.conv_forward.default, (x, w, t(4, grad=True), 1, 1, 2, True)),
        "conv_forward_no_bias": (OPS.conv_forward.default, (x, w, None, 1, 0, 2, False)),
        "conv_backward_data": (OPS.conv_backward_data.default, (t(*conv_y.shape), w.detach(), 5, 7, 2, 1, 2)),
        "conv_backward_weight": (OPS.conv_backward_weight.default, (t(*conv_y.shape), x.detach(), 3, 2, 1, 2)),
        "lrn_forward": (OPS.lrn_forward.default, (x, 5, 1e-2, 0.75, 2.0, 2)),
        "lrn_backward": (OPS.lrn_backward.default, (t(2, 6, 5, 7), x.detach(), scale, 5, 1e-2, 0.75, 2)),
        "maxpool_forward": (OPS.maxpool_forward.default, (x, 3, 2, 0)),
        "maxpool_backward": (OPS.maxpool_backward.default, (t(*p.shape), argmax, 5, 7, 3, 2, 0)),
        "bias_relu": (OPS.bias_relu.default, (x, t(6, grad=True))),
        "bias_relu_backward": (OPS.bias_relu_backward.default, (t(2, 6, 5, 7), r)),
        "dropout": (OPS.dropout.default, (x, 0.5, 1234)),
        "softmax_xent": (OPS.softmax_xent.default, (logits, labels)),
        "softmax_xent_backward": (OPS.softmax_xent_backward.default,
                                  (torch.tensor(1.0, device=device), logits.detach(), labels, lse)),
    }


NAMES = ["conv_forward", "conv_forward_relu", "conv_forward_no_bias", "conv_backward_data", "conv_backward_weight",
         "lrn_forward", "lrn_backward", "maxpool_forward", "maxpool_backward", "bias_relu", "bias_relu_backward",
         "dropout", "softmax_xent", "softmax_xent_backward"]  # the keys of cases(): listing them here builds nothing


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_opcheck(device, name):
    op, args = cases(device)[name]
    torch.library.opcheck(op, args)


@pytest.mark.parametrize("call,message", [
    (lambda: lrn(torch.randn(2, 6, 3, 3), size=4), "size must be odd"),
    (lambda: lrn(torch.randn(2, 6, 3, 3), groups=4), "6 channels do not split into 4 groups"),
    (lambda: lrn(torch.randn(2, 6, 3, 3, dtype=torch.float64)), "must be float32 or bfloat16, got Double"),
    (lambda: lrn(torch.randn(2, 6, 3, 3), k=0.0), "k must be > 0"),
    (lambda: max_pool(torch.randn(2, 6, 2, 2), 3, 2), "a 2x2 input is smaller than the 3x3 window"),
    (lambda: max_pool(torch.randn(6, 9, 9), 3, 2), r"must be \[N, C, H, W\]"),
    (lambda: max_pool(torch.randn(1, 1, 9, 9), 3, 2, 2), r"padding must be in \[0, kernel/2\]"),
    (lambda: bias_relu(torch.randn(2, 6, 3), torch.randn(5)), r"bias must be \[6\]"),
    (lambda: dropout(torch.randn(4), 1.5, 0), r"p must be in \[0, 1\]"),
    (lambda: softmax_cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2])), "labels must be int64 \\[4\\]"),
    (lambda: conv2d(torch.randn(2, 6, 9, 9), torch.randn(4, 6, 3, 5)), "only square kernels"),
    (lambda: conv2d(torch.randn(2, 6, 9, 9), torch.randn(4, 3, 3, 3)), "expects 3 input channels with 1 groups"),
    (lambda: conv2d(torch.randn(2, 6, 9, 9), torch.randn(5, 3, 3, 3), groups=2), "do not split into 2 groups"),
    (lambda: conv2d(torch.randn(2, 6, 2, 2), torch.randn(4, 6, 5, 5)), "a 2x2 input with padding 0 is smaller"),
    (lambda: conv2d(torch.randn(6, 9, 9), torch.randn(4, 6, 3, 3)), r"x must be \[N, C, H, W\]"),
    (lambda: conv2d(torch.randn(2, 6, 9, 9), torch.randn(4, 6, 3, 3, dtype=torch.bfloat16)), "dtypes differ"),
    (lambda: conv2d(torch.randn(2, 6, 9, 9), torch.randn(4, 6, 3, 3), torch.randn(3)), r"bias must be \[4\]"),
    (lambda: conv2d(torch.randn(2, 6, 9, 9), torch.randn(4, 6, 3, 3), stride=0), "stride must be >= 1"),
])
def test_bad_arguments_are_clear_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def _saved_on_meta(name):
    """The op's arguments on the CPU with one saved tensor moved to the meta device, and the op's
    CPU kernel called directly (the dispatcher would send a CPU/CUDA mix to the CUDA kernel and a
    CPU/meta mix to the fake): the kernel must refuse the foreign pointer rather than read it."""
    op, args = cases("cpu")[name]
    index = {"lrn_backward": 2, "softmax_xent_backward": 3, "maxpool_backward": 1}[name]
    args = list(args)
    args[index] = args[index].detach().to("meta")
    cpu = torch._C.DispatchKeySet(torch._C.DispatchKey.CPU)
    return (lambda *a: op.redispatch(cpu, *a)), args


@pytest.mark.parametrize("name,message", [
    ("lrn_backward", "lrn_backward: scale on meta, expected cpu"),
    ("softmax_xent_backward", "softmax_xent_backward: lse on meta, expected cpu"),
    ("maxpool_backward", "maxpool_backward: argmax on meta, expected cpu"),
])
def test_backward_ops_check_the_device_of_saved_tensors(name, message):
    op, args = _saved_on_meta(name)
    with pytest.raises(RuntimeError, match=message):
        op(*args)


@pytest.mark.parametrize("make,message", [
    (lambda lse: lse.double(), r"lse must be float32 \[4\], got Double"),
    (lambda lse: lse[:3], r"lse must be float32 \[4\]"),
])
def test_softmax_xent_backward_checks_its_saved_lse(make, message):
    op, args = cases("cpu")["softmax_xent_backward"]
    args = list(args)
    args[3] = make(args[3])
    with pytest.raises(RuntimeError, match=message):
        op(*args)


def test_lrn_backward_checks_the_dtype_of_its_saved_scale():
    op, args = cases("cpu")["lrn_backward"]
    args = list(args)
    args[2] = args[2].to(torch.bfloat16)
    with pytest.raises(RuntimeError, match="lrn_backward: scale must be float32, got BFloat16"):
        op(*args)


def test_backward_ops_are_not_differentiable_twice():
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    (g,) = torch.autograd.grad(lrn(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="lrn_backward: gradients of gradients"):
        g.sum().backward()


def test_ops_trace_under_torch_compile():
    # The fake implementations let the compiler trace the ops (aot_eager: no codegen needed).
    def net(x, weight, conv_bias, bias, labels):
        h = conv2d(x, weight, conv_bias, 1, 1, 2, relu=True)
        h = max_pool(lrn(bias_relu(h, bias), 5, 1e-2, 0.75, 2.0, 2), 3, 2)
        return softmax_cross_entropy(h.flatten(1), labels)

    x, weight, conv_bias = torch.randn(3, 4, 7, 7), torch.randn(4, 2, 3, 3, requires_grad=True), torch.randn(4)
    bias, labels = torch.randn(4), torch.tensor([0, 5, 11])
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    loss = compiled(x, weight, conv_bias, bias, labels)
    torch.testing.assert_close(loss, net(x, weight, conv_bias, bias, labels))
    (grad,) = torch.autograd.grad(loss, weight)
    (expected,) = torch.autograd.grad(net(x, weight, conv_bias, bias, labels), weight)
    torch.testing.assert_close(grad, expected)

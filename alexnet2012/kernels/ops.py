"""The hand-written AlexNet kernels as PyTorch operators (``torch.ops.repro_alexnet``).

The C++/CUDA library (csrc/, built by ``build.py`` on first use) defines each
op's schema and its CPU and CUDA implementations; this module registers, for
each forward op, its autograd formula (the backward ops) and a fake (meta)
implementation, so the ops work under autograd, ``torch.compile`` and
``torch.library.opcheck``. The functions at the bottom are the public API;
the modules in ``modules.py`` wrap them for the model.

Backward ops raise when differentiated (no double backward).
"""

from __future__ import annotations

import torch

from .build import build

build()  # registers the ops with the dispatcher
_ops = torch.ops.repro_alexnet


def _fake_like(x: torch.Tensor, dtype: torch.dtype | None = None, shape=None) -> torch.Tensor:
    # The kernels write fresh contiguous tensors, whatever the input's strides.
    return x.new_empty(x.shape if shape is None else shape, dtype=dtype or x.dtype)


# ----------------------------------------------------------------------------- fake implementations

@torch.library.register_fake("repro_alexnet::lrn_forward")
def _lrn_forward_fake(x, size, alpha, beta, k, groups):
    return _fake_like(x), _fake_like(x, torch.float32)


@torch.library.register_fake("repro_alexnet::lrn_backward")
def _lrn_backward_fake(grad_y, x, scale, size, alpha, beta, groups):
    return _fake_like(x)


def _out_size(size, kernel, stride, padding):
    """Output size of a window sliding over a padded axis (pooling and convolution alike)."""
    return (size + 2 * padding - kernel) // stride + 1


@torch.library.register_fake("repro_alexnet::maxpool_forward")
def _maxpool_forward_fake(x, kernel, stride, padding):
    n, c, h, w = x.shape
    shape = (n, c, _out_size(h, kernel, stride, padding), _out_size(w, kernel, stride, padding))
    return _fake_like(x, shape=shape), _fake_like(x, torch.int32, shape)


@torch.library.register_fake("repro_alexnet::maxpool_backward")
def _maxpool_backward_fake(grad_y, argmax, height, width, kernel, stride, padding):
    n, c = grad_y.shape[:2]
    return _fake_like(grad_y, shape=(n, c, height, width))


@torch.library.register_fake("repro_alexnet::bias_relu")
def _bias_relu_fake(x, bias):
    return _fake_like(x)


@torch.library.register_fake("repro_alexnet::bias_relu_backward")
def _bias_relu_backward_fake(grad_y, y):
    return _fake_like(y), _fake_like(y, torch.float32, (y.shape[1],))


@torch.library.register_fake("repro_alexnet::dropout")
def _dropout_fake(x, p, seed):
    return _fake_like(x)


@torch.library.register_fake("repro_alexnet::softmax_xent")
def _softmax_xent_fake(logits, labels):
    return _fake_like(logits, torch.float32, ()), _fake_like(logits, torch.float32, (logits.shape[0],))


@torch.library.register_fake("repro_alexnet::softmax_xent_backward")
def _softmax_xent_backward_fake(grad_loss, logits, labels, lse):
    return _fake_like(logits)


@torch.library.register_fake("repro_alexnet::conv_forward")
def _conv_forward_fake(x, weight, bias, stride, padding, groups, relu):
    k = weight.shape[2]
    shape = (x.shape[0], weight.shape[0], _out_size(x.shape[2], k, stride, padding),
             _out_size(x.shape[3], k, stride, padding))
    return _fake_like(x, shape=shape)


@torch.library.register_fake("repro_alexnet::conv_backward_data")
def _conv_backward_data_fake(grad_y, weight, height, width, stride, padding, groups):
    return _fake_like(grad_y, shape=(grad_y.shape[0], weight.shape[1] * groups, height, width))


@torch.library.register_fake("repro_alexnet::conv_backward_weight")
def _conv_backward_weight_fake(grad_y, x, kernel, stride, padding, groups):
    return _fake_like(x, shape=(grad_y.shape[1], x.shape[1] // groups, kernel, kernel))


# ----------------------------------------------------------------------------- autograd

def _lrn_setup(ctx, inputs, output):
    x, size, alpha, beta, _k, groups = inputs
    ctx.save_for_backward(x, output[1])
    ctx.args = (size, alpha, beta, groups)


def _lrn_backward(ctx, grad_y, _grad_scale):
    x, scale = ctx.saved_tensors
    return _ops.lrn_backward(grad_y, x, scale, *ctx.args), None, None, None, None, None


def _maxpool_setup(ctx, inputs, output):
    x, kernel, stride, padding = inputs
    ctx.save_for_backward(output[1])
    ctx.args = (x.shape[2], x.shape[3], kernel, stride, padding)


def _maxpool_backward(ctx, grad_y, _grad_argmax):
    (argmax,) = ctx.saved_tensors
    return _ops.maxpool_backward(grad_y, argmax, *ctx.args), None, None, None


def _bias_relu_setup(ctx, inputs, output):
    ctx.save_for_backward(output)
    ctx.bias_dtype = inputs[1].dtype


def _bias_relu_backward(ctx, grad_y):
    (y,) = ctx.saved_tensors
    grad_x, grad_bias = _ops.bias_relu_backward(grad_y, y)
    return grad_x, grad_bias.to(ctx.bias_dtype)


def _dropout_setup(ctx, inputs, output):
    ctx.args = (inputs[1], inputs[2])


def _dropout_backward(ctx, grad_y):
    # The mask is a pure function of (seed, index): regenerate it on the gradient.
    return _ops.dropout(grad_y, *ctx.args), None, None


def _xent_setup(ctx, inputs, output):
    logits, labels = inputs
    ctx.save_for_backward(logits, labels, output[1])


def _xent_backward(ctx, grad_loss, _grad_lse):
    logits, labels, lse = ctx.saved_tensors
    return _ops.softmax_xent_backward(grad_loss, logits, labels, lse), None


def _conv_setup(ctx, inputs, output):
    x, weight, bias, stride, padding, groups, relu = inputs
    # relu: the ReLU's mask comes from the output, as in bias_relu.
    ctx.save_for_backward(x, weight, output if relu else None)
    ctx.args = (stride, padding, groups)
    ctx.relu, ctx.bias_dtype = relu, None if bias is None else bias.dtype


def _conv_backward(ctx, grad_y):
    x, weight, y = ctx.saved_tensors
    stride, padding, groups = ctx.args
    need_x, need_w, need_b = ctx.needs_input_grad[:3]  # need_b is False without a bias
    if ctx.relu:  # the gradient through the fused ReLU, and its bias sum, in one pass
        grad_z, grad_b = _ops.bias_relu_backward(grad_y, y)
    else:
        grad_z = grad_y
        grad_b = grad_z.sum(dim=(0, 2, 3), dtype=torch.float32) if need_b else None
    grad_x = _ops.conv_backward_data(grad_z, weight, x.shape[2], x.shape[3], *ctx.args) if need_x else None
    grad_w = _ops.conv_backward_weight(grad_z, x, weight.shape[2], *ctx.args) if need_w else None
    grad_b = grad_b.to(ctx.bias_dtype) if need_b else None
    return grad_x, grad_w, grad_b, None, None, None, None


torch.library.register_autograd("repro_alexnet::conv_forward", _conv_backward, setup_context=_conv_setup)
# Under autocast the convolution runs in bf16, as torch's does (the fp32 weights are cast; their gradients cast back).
for _device in ("cpu", "cuda"):
    torch.library.register_autocast("repro_alexnet::conv_forward", _device, torch.bfloat16)
torch.library.register_autograd("repro_alexnet::lrn_forward", _lrn_backward, setup_context=_lrn_setup)
torch.library.register_autograd("repro_alexnet::maxpool_forward", _maxpool_backward, setup_context=_maxpool_setup)
torch.library.register_autograd("repro_alexnet::bias_relu", _bias_relu_backward, setup_context=_bias_relu_setup)
torch.library.register_autograd("repro_alexnet::dropout", _dropout_backward, setup_context=_dropout_setup)
torch.library.register_autograd("repro_alexnet::softmax_xent", _xent_backward, setup_context=_xent_setup)


def _no_double_backward(name: str):
    def backward(ctx, *grads):
        raise RuntimeError(f"repro_alexnet::{name}: gradients of gradients (double backward) are not implemented")

    return backward


# Without a formula autograd would only warn and return wrong (zero) gradients.
for _name in ("lrn_backward", "maxpool_backward", "bias_relu_backward", "softmax_xent_backward", "conv_backward_data",
              "conv_backward_weight"):
    torch.library.register_autograd(f"repro_alexnet::{_name}", _no_double_backward(_name))


# ----------------------------------------------------------------------------- public API

def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
           padding: int = 0, groups: int = 1, relu: bool = False) -> torch.Tensor:
    """F.conv2d (square kernel, symmetric stride and padding) by implicit GEMM, optionally
    with the ReLU fused into the epilogue: relu(conv(x, w) + b). bf16 runs on tensor cores."""
    return _ops.conv_forward(x, weight, bias, stride, padding, groups, relu)


def lrn(x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
        groups: int = 1) -> torch.Tensor:
    """The paper's cross-channel LRN (alpha times the *sum* of n squares), per channel group."""
    return _ops.lrn_forward(x, size, alpha, beta, k, groups)[0]


def max_pool(x: torch.Tensor, kernel_size: int = 3, stride: int = 2, padding: int = 0) -> torch.Tensor:
    """Max pooling [N, C, H, W] (overlapping when kernel_size > stride), as F.max_pool2d."""
    return _ops.maxpool_forward(x, kernel_size, stride, padding)[0]


def bias_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """relu(x + bias[c]) on [N, C, ...] in one pass."""
    return _ops.bias_relu(x, bias)


def dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """Inverted dropout whose mask is a pure function of (seed, element index)."""
    return _ops.dropout(x, p, seed)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of [N, K] logits (fp32 result for fp32 and bf16 logits)."""
    return _ops.softmax_xent(logits, labels)[0]


def philox4x32_10(counter: tuple[int, int, int, int], key: tuple[int, int]) -> list[int]:
    """The kernels' Philox4x32-10 block function (for the known-answer test)."""
    return [v & 0xFFFFFFFF for v in _ops.philox4x32_10(*counter, *key)]

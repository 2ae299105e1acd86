"""Mean softmax cross-entropy: the kernel repro_alexnet::softmax_xent and
softmax_xent_backward (csrc/softmax_xent.cuh, softmax_xent.cu, softmax_xent_ops.cpp)
with its fake, its autograd, its reference and its layer.

The forward saves each row's fp32 log-sum-exp, so the backward is one
elementwise pass. The loss is fp32 for fp32 and bf16 logits. A label outside
[0, K) raises on the CPU and gives that row a NaN loss on the GPU (raising
would need a host sync).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .library import OPS, ensure_built, fake_like, no_double_backward

# ----------------------------------------------------------------------------- public function


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of [N, K] logits (fp32 result for fp32 and bf16 logits)."""
    ensure_built()
    return OPS.softmax_xent(logits, labels)[0]


# ----------------------------------------------------------------------------- reference


def softmax_cross_entropy_reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """torch's cross-entropy, in fp32 at least (as the kernel: bf16 logits give an fp32 loss)."""
    return F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), labels)


# ----------------------------------------------------------------------------- fake and autograd


def _forward_fake(logits, labels):
    return fake_like(logits, torch.float32, ()), fake_like(logits, torch.float32, (logits.shape[0],))


def _backward_fake(grad_loss, logits, labels, lse):
    return fake_like(logits)


def _setup(ctx, inputs, output):
    logits, labels = inputs
    ctx.save_for_backward(logits, labels, output[1])


def _backward(ctx, grad_loss, _grad_lse):
    logits, labels, lse = ctx.saved_tensors
    return OPS.softmax_xent_backward(grad_loss, logits, labels, lse), None


def register_fake_and_autograd() -> None:
    """Called once by ``library.ensure_built()``, after the build has defined the ops."""
    torch.library.register_fake("repro_alexnet::softmax_xent", _forward_fake)
    torch.library.register_fake("repro_alexnet::softmax_xent_backward", _backward_fake)
    torch.library.register_autograd("repro_alexnet::softmax_xent", _backward, setup_context=_setup)
    no_double_backward("softmax_xent_backward")


# ----------------------------------------------------------------------------- layer (model.ops.loss=custom)


class CrossEntropy(nn.Module):
    """Mean softmax cross-entropy over the batch (fp32 loss); the torch layer is nn.CrossEntropyLoss."""

    def __init__(self):
        super().__init__()
        ensure_built()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(logits, labels)

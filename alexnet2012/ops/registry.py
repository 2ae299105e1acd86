"""The ops seam: one implementation name per layer type, chosen by config (``model.ops``).

The network asks for its layers by kind ("conv", "lrn", ...) and by the name
of an implementation: "torch" (standard PyTorch layers, cuDNN on a GPU) or
"custom" (the hand-written kernels, alexnet2012/kernels/<family>.py). Swapping
an implementation is a config change, never a model change. Importing this
builds nothing: a custom layer builds the kernels' library when constructed.

Contract for implementations (so checkpoints stay interchangeable between them):
  conv(in_channels, out_channels, kernel_size, stride, padding, groups)
      -> module with parameters ``weight`` [out, in/groups, k, k] and ``bias`` [out]
  fc(in_features, out_features)       -> module with parameters ``weight`` [out, in] and ``bias`` [out]
  lrn(size, alpha, beta, k, groups)   -> module, the paper's formula (kernels/lrn.py)
  pool(kernel_size, stride)           -> module, max pooling
  activation()                        -> module, ReLU
  dropout(p)                          -> module
  loss()                              -> module or callable (logits, labels) -> mean loss
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from torch import nn

from alexnet2012.kernels import bias_relu, conv, conv_torch, dropout, lrn, maxpool, softmax_xent

KINDS = ("conv", "fc", "lrn", "pool", "activation", "dropout", "loss")

# kind -> implementation name -> the layer's class (or factory), called with the layer's arguments.
_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {
    # "torch": nn.Conv2d in the formulation measured fastest on its device (kernels/conv_torch.py: on the
    # CPU channels_last, and conv1's weight gradient by space-to-depth); "torch_direct": nn.Conv2d as given
    # everywhere (the baseline of bench/alexnet_step.py).
    "conv": {"torch": conv_torch.Conv2d, "torch_direct": partial(conv_torch.Conv2d, formulation="direct"),
             "custom": conv.Conv2d},
    "fc": {"torch": nn.Linear, "custom": conv.Linear},
    # "torch": the closed form on the CPU (faster there), torch's composite elsewhere;
    # "torch_composite": F.local_response_norm everywhere (the baseline the closed form is measured against).
    "lrn": {"torch": lrn.LocalResponseNorm, "torch_composite": partial(lrn.LocalResponseNorm, formulation="composite"),
            "custom": lrn.LRN},
    "pool": {"torch": nn.MaxPool2d, "custom": maxpool.MaxPool},  # the paper's overlapping pooling: z=3 > s=2
    "activation": {"torch": nn.ReLU, "custom": bias_relu.BiasReLU},
    "dropout": {"torch": nn.Dropout, "custom": dropout.Dropout},
    "loss": {"torch": nn.CrossEntropyLoss, "custom": softmax_xent.CrossEntropy},  # mean over the batch
}


def _check_kind(kind: str) -> dict[str, Callable[..., Any]]:
    if kind not in _REGISTRY:
        raise ValueError(f"unknown op kind {kind!r}; known kinds: {list(KINDS)}")
    return _REGISTRY[kind]


def register(kind: str, impl_name: str, factory: Callable[..., Any], *, replace: bool = False) -> None:
    """Make ``factory(**layer_args)`` the implementation ``impl_name`` of ``kind``."""
    impls = _check_kind(kind)
    if impl_name in impls and not replace:
        # A silent overwrite would let two implementations fight over a name.
        raise ValueError(f"op {kind!r} already has an implementation named {impl_name!r}")
    impls[impl_name] = factory


def available(kind: str) -> tuple[str, ...]:
    """The implementation names of ``kind``, sorted."""
    return tuple(sorted(_check_kind(kind)))


def make(kind: str, impl_name: str, **layer_args: Any) -> Any:
    """Build one layer of ``kind`` with implementation ``impl_name``."""
    impls = _check_kind(kind)
    if impl_name not in impls:
        raise ValueError(
            f"unknown implementation {impl_name!r} for op {kind!r}; available: {list(available(kind))}"
        )
    return impls[impl_name](**layer_args)


@dataclass(frozen=True)
class OpsConfig:
    """Which implementation each layer type uses (config group ``model.ops``)."""

    conv: str = "torch"
    fc: str = "torch"  # fully connected layers
    lrn: str = "torch"
    pool: str = "torch"
    activation: str = "torch"  # ReLU
    dropout: str = "torch"
    loss: str = "torch"  # softmax cross-entropy, mean over the batch

    def validate(self) -> None:
        # Fail while parsing the config, not when the first layer is built.
        for field in fields(self):
            name = getattr(self, field.name)
            if name not in _REGISTRY[field.name]:
                raise ValueError(
                    f"{field.name}: unknown implementation {name!r}; "
                    f"available: {list(available(field.name))}"
                )

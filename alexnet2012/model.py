"""The network of Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification
with Deep Convolutional Neural Networks" (NIPS), section 3 and Figure 2.

    input 224x224x3
    conv1  96 11x11/4       ReLU, LRN, max-pool 3x3/2  -> 96x27x27
    conv2 256 5x5 pad 2     ReLU, LRN, max-pool 3x3/2  -> 256x13x13   (own tower only)
    conv3 384 3x3 pad 1     ReLU                                      (both towers)
    conv4 384 3x3 pad 1     ReLU                                      (own tower only)
    conv5 256 3x3 pad 1     ReLU, max-pool 3x3/2       -> 256x6x6     (own tower only)
    fc6 4096  ReLU, dropout 0.5;  fc7 4096  ReLU, dropout 0.5;  fc8 1000 (softmax in the loss)

The two GPUs of the paper ("towers") appear here as grouped convolutions
(groups=2) and per-tower LRN; `towers.py` runs the same weights split across
two devices. Variants: "one_tower" (same widths, no groups) and "torchvision"
(the "One weird trick" model that torchvision ships, 61,100,840 parameters).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from .ops import OpsConfig, make
from .ops.fusion import activate

# Paper: "60 million parameters". The two-tower net, layer by layer
# (weights + biases; grouped layers see half the input maps):
#   conv1  96*3*11*11       + 96    =     34,944
#   conv2 256*48*5*5        + 256   =    307,456   (2 groups)
#   conv3 384*256*3*3       + 384   =    885,120
#   conv4 384*192*3*3       + 384   =    663,936   (2 groups)
#   conv5 256*192*3*3       + 256   =    442,624   (2 groups)
#   fc6  4096*256*6*6       + 4096  = 37,752,832
#   fc7  4096*4096          + 4096  = 16,781,312
#   fc8  1000*4096          + 1000  =  4,097,000
PAPER_LAYER_PARAMS = {
    "conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936,
    "conv5": 442_624, "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000,
}
PAPER_PARAMS = 60_965_224
assert sum(PAPER_LAYER_PARAMS.values()) == PAPER_PARAMS

# The layers whose outputs Figure 2 draws, in order (`layer_shapes`, `stages`).
LAYERS = ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")
# The layers with parameters; these names are the checkpoint keys.
PARAM_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
# Paper: "biases in the second, fourth, and fifth convolutional layers, as well
# as in the fully-connected hidden layers, with the constant 1" (0 elsewhere).
PAPER_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")

PAPER_CHANNELS = (96, 256, 384, 384, 256)
TORCHVISION_CHANNELS = (64, 192, 384, 256, 256)
TORCHVISION_POOL = 6  # AdaptiveAvgPool2d(6) before the classifier

Variant = Literal["two_tower", "one_tower", "torchvision"]


@dataclass(frozen=True)
class AlexNetConfig:
    # "two_tower" = the paper's two-GPU net; "one_tower" = same widths on one
    # GPU (no groups); "torchvision" = torchvision's single-tower model (Krizhevsky
    # 2014, "One weird trick"): widths 64,192,384,256,256, no LRN, adaptive
    # average pooling to 6x6, dropout before fc6 and fc7.
    variant: Variant = "two_tower"
    arch: Literal["alexnet"] = "alexnet"  # the family (conf/alexnet2012/model/cc_*.yaml: "cuda-convnet")
    # The paper says 224x224 inputs but draws 55x55 conv1 maps, which an
    # 11x11 stride-4 kernel gives only from 227 without padding or from 224
    # with padding 2. We default to 224 crops + pad 2 and offer 227 (Caffe's
    # choice, pad 0). None = auto: 0 when input_size == 227 (except for
    # "torchvision", which always pads 2), else 2.
    input_size: int = 224
    conv1_padding: int | None = None
    conv1_kernel: int = 11
    conv1_stride: int = 4
    # None = the variant's widths (paper: 96,256,384,384,256; torchvision:
    # 64,192,384,256,256). Smaller widths give a CIFAR-scale AlexNet with the
    # same code path (e.g. 48,128,192,192,128 with a 5x5/1 conv1).
    channels: tuple[int, ...] | None = None
    fc_width: int = 4096
    num_classes: int = 1000
    dropout: float = 0.5  # paper: "dropout in the first two fully-connected layers", p=0.5
    # Paper: k=2, n=5, alpha=1e-4, beta=0.75.
    lrn_k: float = 2.0
    lrn_n: int = 5
    lrn_alpha: float = 1e-4
    lrn_beta: float = 0.75
    # How alpha enters the sum. "code": (k + alpha/n * sum a^2)^beta, what the
    # code that trained the published 40.7%/18.2% net computed: cuda-convnet's
    # layer.py "dic['scale'] /= dic['size'] if self.norm_type ==
    # self.CROSSMAP_RESPONSE_NORM" (as in cuda-convnet2), and Caffe's
    # lrn_layer.cpp "alpha_ / size_". "paper": (k + alpha * sum a^2)^beta, the
    # formula as printed in section 3.3 (5x stronger at n=5).
    lrn_alpha_convention: Literal["code", "paper"] = "code"
    # The paper's N is "the total number of kernels in the layer", but each GPU
    # normalises only its own maps. "tower" is what the two-GPU net computes
    # (and what the model-parallel split reproduces exactly); "layer" sums
    # across the tower boundary as the formula reads.
    lrn_scope: Literal["tower", "layer"] = "tower"
    # "paper": every weight N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6,
    # fc7 and 0 elsewhere. "torch_default": PyTorch's layer initialisers.
    init: Literal["paper", "torch_default"] = "paper"
    ops: OpsConfig = field(default_factory=OpsConfig)

    @property
    def towers(self) -> int:
        return 2 if self.variant == "two_tower" else 1

    @property
    def effective_channels(self) -> tuple[int, ...]:
        if self.channels is not None:
            return tuple(self.channels)
        return TORCHVISION_CHANNELS if self.variant == "torchvision" else PAPER_CHANNELS

    @property
    def effective_conv1_padding(self) -> int:
        if self.conv1_padding is not None:
            return self.conv1_padding
        if self.variant != "torchvision" and self.input_size == 227:
            return 0
        return 2

    def validate(self) -> None:
        channels = self.effective_channels
        if len(channels) != 5 or min(channels) < 1:
            raise ValueError(f"channels must be 5 positive widths (conv1..conv5), got {channels}")
        if self.towers == 2 and any(c % 2 for c in channels):
            raise ValueError(f"two_tower splits every conv layer in half; channels must be even, got {channels}")
        for name in ("input_size", "conv1_kernel", "conv1_stride", "fc_width", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.effective_conv1_padding < 0:
            raise ValueError("conv1_padding must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.lrn_n < 1 or self.lrn_n % 2 == 0:
            raise ValueError(f"lrn_n must be odd (the paper's window i-n/2..i+n/2), got {self.lrn_n}")
        if self.lrn_k <= 0 or self.lrn_alpha < 0 or self.lrn_beta <= 0:
            raise ValueError("LRN needs lrn_k > 0, lrn_alpha >= 0, lrn_beta > 0")
        shapes = layer_shapes(self)
        small = [name for name, shape in shapes.items() if min(shape) < 1]
        if small:
            raise ValueError(f"input_size {self.input_size} is too small: {small[0]} would be {shapes[small[0]]}")
        self.ops.validate()


def lrn_alpha(cfg: AlexNetConfig) -> float:
    """The alpha the LRN layer multiplies the sum of squares by (the kernels
    take the paper's formula literally): lrn_alpha / lrn_n under the code's
    convention, lrn_alpha under the paper's."""
    return cfg.lrn_alpha / cfg.lrn_n if cfg.lrn_alpha_convention == "code" else cfg.lrn_alpha


def _out(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def layer_shapes(cfg: AlexNetConfig, input_size: int | None = None) -> dict[str, tuple[int, ...]]:
    """Output shape of each layer in `LAYERS`: (C, H, W) for conv/pool, (F,) for fc.

    For "torchvision", pool5 is the 6x6 map after its adaptive average pooling.
    """
    s = cfg.input_size if input_size is None else input_size
    c1, c2, c3, c4, c5 = cfg.effective_channels
    shapes: dict[str, tuple[int, ...]] = {}
    s = _out(s, cfg.conv1_kernel, cfg.conv1_stride, cfg.effective_conv1_padding)
    shapes["conv1"] = (c1, s, s)
    s = _out(s, 3, 2)
    shapes["pool1"] = (c1, s, s)
    shapes["conv2"] = (c2, s, s)  # 5x5 pad 2 and 3x3 pad 1 keep the size
    s = _out(s, 3, 2)
    shapes["pool2"] = (c2, s, s)
    shapes["conv3"], shapes["conv4"], shapes["conv5"] = (c3, s, s), (c4, s, s), (c5, s, s)
    s = _out(s, 3, 2)
    if cfg.variant == "torchvision" and s >= 1:
        s = TORCHVISION_POOL
    shapes["pool5"] = (c5, s, s)
    shapes["fc6"] = shapes["fc7"] = (cfg.fc_width,)
    shapes["fc8"] = (cfg.num_classes,)
    return shapes


class AlexNet(nn.Module):
    """AlexNet with stable layer names conv1..conv5, fc6..fc8 (checkpoint keys)."""

    def __init__(self, cfg: AlexNetConfig):
        super().__init__()
        self.cfg = cfg
        ops, towers = cfg.ops, cfg.towers
        c1, c2, c3, c4, c5 = cfg.effective_channels
        paper = cfg.variant != "torchvision"

        def conv(cin: int, cout: int, kernel: int, stride: int, padding: int, groups: int) -> nn.Module:
            return make("conv", ops.conv, in_channels=cin, out_channels=cout, kernel_size=kernel,
                        stride=stride, padding=padding, groups=groups)

        def norm() -> nn.Module:
            if not paper:
                return nn.Identity()  # torchvision has no LRN
            groups = towers if cfg.lrn_scope == "tower" else 1
            return make("lrn", ops.lrn, size=cfg.lrn_n, alpha=lrn_alpha(cfg), beta=cfg.lrn_beta, k=cfg.lrn_k,
                        groups=groups)

        def relu() -> nn.Module:
            return make("activation", ops.activation)

        def pool() -> nn.Module:
            return make("pool", ops.pool, kernel_size=3, stride=2)

        # groups=towers: conv2, conv4 and conv5 see only their own tower's maps.
        self.conv1 = conv(3, c1, cfg.conv1_kernel, cfg.conv1_stride, cfg.effective_conv1_padding, 1)
        self.relu1, self.norm1, self.pool1 = relu(), norm(), pool()
        self.conv2 = conv(c1, c2, 5, 1, 2, towers)
        self.relu2, self.norm2, self.pool2 = relu(), norm(), pool()
        self.conv3 = conv(c2, c3, 3, 1, 1, 1)
        self.relu3 = relu()
        self.conv4 = conv(c3, c4, 3, 1, 1, towers)
        self.relu4 = relu()
        self.conv5 = conv(c4, c5, 3, 1, 1, towers)
        self.relu5, self.pool5 = relu(), pool()
        # Only torchvision pools adaptively; the paper variants size fc6 from the
        # computed pool5 map (6x6 at 224, 2x2 for 28x28 CIFAR crops).
        self.avgpool = nn.AdaptiveAvgPool2d(TORCHVISION_POOL) if not paper else nn.Identity()
        c, h, w = layer_shapes(cfg)["pool5"]
        self.fc6 = make("fc", ops.fc, in_features=c * h * w, out_features=cfg.fc_width)
        self.relu6 = relu()
        self.fc7 = make("fc", ops.fc, in_features=cfg.fc_width, out_features=cfg.fc_width)
        self.relu7 = relu()
        self.fc8 = make("fc", ops.fc, in_features=cfg.fc_width, out_features=cfg.num_classes)
        # Paper: dropout on the outputs of fc6 and fc7 (inputs of fc7, fc8);
        # torchvision: dropout on the inputs of fc6 and fc7.
        self.drop6 = make("dropout", ops.dropout, p=cfg.dropout)
        self.drop7 = make("dropout", ops.dropout, p=cfg.dropout)

    def stages(self, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield (name, output) for each layer in `LAYERS`; convN outputs are after ReLU (and LRN)."""
        x = self.norm1(activate(self.conv1, self.relu1, x))
        yield "conv1", x
        x = self.pool1(x)
        yield "pool1", x
        x = self.norm2(activate(self.conv2, self.relu2, x))
        yield "conv2", x
        x = self.pool2(x)
        yield "pool2", x
        x = activate(self.conv3, self.relu3, x)
        yield "conv3", x
        x = activate(self.conv4, self.relu4, x)
        yield "conv4", x
        x = activate(self.conv5, self.relu5, x)
        yield "conv5", x
        x = self.avgpool(self.pool5(x))
        yield "pool5", x
        x = x.flatten(1)
        if self.cfg.variant == "torchvision":
            x = activate(self.fc6, self.relu6, self.drop6(x))
            yield "fc6", x
            x = activate(self.fc7, self.relu7, self.drop7(x))
            yield "fc7", x
        else:
            x = self.drop6(activate(self.fc6, self.relu6, x))
            yield "fc6", x
            x = self.drop7(activate(self.fc7, self.relu7, x))
            yield "fc7", x
        yield "fc8", self.fc8(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _, x in self.stages(x):
            pass
        return x

    def activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(self.stages(x))

    def layer_shapes(self, input_size: int | None = None) -> dict[str, tuple[int, ...]]:
        return layer_shapes(self.cfg, input_size)

    def counts(self) -> dict[str, int]:
        """Parameters per layer in `PARAM_LAYERS`, plus "total" (every parameter)."""
        counts = {name: sum(p.numel() for p in getattr(self, name).parameters()) for name in PARAM_LAYERS}
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts


def init_paper(model: AlexNet, generator: torch.Generator) -> None:
    """Section 5: weights N(0, 0.01); biases 1 in `PAPER_BIAS_ONE`, 0 elsewhere."""
    with torch.no_grad():
        for name in PARAM_LAYERS:  # a fixed order, so a seed fixes every weight
            layer = getattr(model, name)
            layer.weight.normal_(0.0, 0.01, generator=generator)
            layer.bias.fill_(1.0 if name in PAPER_BIAS_ONE else 0.0)


def build_model(cfg: AlexNetConfig, seed: int) -> AlexNet:
    """A deterministic AlexNet on the CPU: the same (cfg, seed) gives the same weights."""
    cfg.validate()
    # PyTorch's default initialisers draw from the global RNG; seed a fork of
    # it so "torch_default" is reproducible and the caller's RNG is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AlexNet(cfg)
    if cfg.init == "paper":
        init_paper(model, torch.Generator().manual_seed(seed))
    return model


def build_loss(cfg: AlexNetConfig):
    """Softmax cross-entropy (mean over the batch), from the configured implementation
    (a cuda-convnet config may ask for label smoothing: the torch loss only)."""
    smoothing = getattr(cfg, "label_smoothing", 0.0)
    return make("loss", cfg.ops.loss, **({"label_smoothing": smoothing} if smoothing else {}))

"""cuda-convnet networks from a layer list (the layers-*.cfg and layer-params-*.cfg files in one).

Each `LayerSpec` is one section of Krizhevsky's layer-definition file with its
learning parameters from the layer-params file. The semantics follow
cuda-convnet (v1) where it differs from PyTorch's defaults:

- weights ~ N(0, initW^2), biases 0;
- ``neuron=`` applies after the layer (so ``pool1 ... neuron=relu`` pools, then rectifies);
- pooling windows of size z, stride s: ceil((in - z) / s) + 1 outputs, the last
  window hanging off the edge; max ignores the part outside; avg divides by
  z^2 always (``avg_divisor="window"``: the 2011 cuda-convnet the 80sec/18pct
  files were written for, whose backward divided border windows by their
  clipped size, not its forward's gradient; we use the true one) or by the
  in-bounds count (``"in_bounds"``: cuda-convnet's later releases and
  cuda-convnet2, conv_util.cuh ``AvgPooler::output``: "return sum ? a : (a /
  regionSize)", regionSize the clipped window, whose backward kLocalAvgUndo is
  that forward's gradient);
- ``rnorm``/``cmrnorm``: see norms.py (k = 1, scale divided by the window size);
- per layer: epsW, epsB (learning rates), momW, momB, wc (weight decay, weights only).

Updates: cuda-convnet keeps inc <- mom*inc - eps*(grad + wc*W), W <- W + inc;
PyTorch's SGD (lr=eps, momentum=mom, weight_decay=wc on a mean loss) is the
same update while the rates are constant; at a rate drop PyTorch's stored
velocity takes the new rate at once (as documented for AlexNet's optimizer).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from alexnet2012.ops import OpsConfig, make
from alexnet2012.ops.fusion import RELU_EPILOGUE, activate

from .locally_connected import LocallyConnected2d
from .norms import SameMapResponseNorm, cross_map_norm

LayerType = Literal["conv", "local", "pool", "rnorm", "cmrnorm", "fc"]
WEIGHTED = ("conv", "local", "fc")


@dataclass(frozen=True)
class LayerSpec:
    name: str
    type: LayerType
    filters: int = 0  # conv, local
    size: int = 0  # conv, local: filterSize; pool: sizeX; norms: size
    stride: int = 1
    padding: int = 0
    outputs: int = 0  # fc
    pool: Literal["max", "avg"] = "max"
    scale: float = 0.0  # norms: cuda-convnet's scale (divided by size or size^2 inside)
    power: float = 0.75  # norms: pow
    neuron: Literal["ident", "relu", "tanh"] = "ident"
    init_w: float = 0.01  # initW: weights ~ N(0, init_w^2)
    eps_w: float = 0.001  # epsW
    eps_b: float = 0.002  # epsB
    mom_w: float = 0.9  # momW
    mom_b: float = 0.9  # momB
    wc: float = 0.0  # weight decay of the weights

    def validate(self) -> None:
        if self.type in ("conv", "local") and (self.filters < 1 or self.size < 1):
            raise ValueError(f"layer {self.name}: {self.type} needs filters and size >= 1")
        if self.type in ("pool", "rnorm", "cmrnorm") and self.size < 1:
            raise ValueError(f"layer {self.name}: {self.type} needs size >= 1")
        if self.type == "fc" and self.outputs < 1:
            raise ValueError(f"layer {self.name}: fc needs outputs >= 1")
        if self.stride < 1 or self.padding < 0:
            raise ValueError(f"layer {self.name}: stride must be >= 1 and padding >= 0")
        if min(self.eps_w, self.eps_b, self.wc, self.init_w) < 0 or not 0 <= max(self.mom_w, self.mom_b) < 1:
            raise ValueError(f"layer {self.name}: rates, decay and init must be >= 0, momenta in [0, 1)")


@dataclass(frozen=True)
class ConvNetConfig:
    arch: Literal["cuda-convnet"] = "cuda-convnet"
    name: str = "layers-80sec"
    input_size: int = 32  # the square images (or crops) the first layer sees
    in_channels: int = 3
    layers: tuple[LayerSpec, ...] = ()
    ops: OpsConfig = field(default_factory=OpsConfig)
    # Switches for the 2012-era ablations (modern_tricks/cifar2012.py); the
    # defaults build the layer list exactly as written.
    response_norm: bool = True  # false: skip every rnorm/cmrnorm layer
    pool_size: int = 0  # > 0: every pooling window this size (2 with stride 2 = non-overlapping)
    neuron: Literal["as_listed", "relu", "tanh"] = "as_listed"  # replace every non-identity neuron
    dropout: float = 0.0  # > 0: dropout with this p on the input of the last fc layer
    batchnorm: bool = False  # BatchNorm after every conv and local layer, before its neuron
    label_smoothing: float = 0.0  # of the softmax cross-entropy
    # Average pooling's divisor for a window hanging off the edge (see the module
    # docstring): "window" = z^2 always (the 2011 code the 80sec/18pct numbers came
    # from), "in_bounds" = the clipped window's size (cuda-convnet's later releases,
    # cuda-convnet2's AvgPooler "a / regionSize").
    avg_divisor: Literal["window", "in_bounds"] = "window"

    @property
    def num_classes(self) -> int:
        return self.layers[-1].outputs if self.layers else 0

    def effective_layers(self) -> tuple[LayerSpec, ...]:
        """The layer list with the ablation switches applied."""
        out = []
        for layer in self.layers:
            if layer.type in ("rnorm", "cmrnorm") and not self.response_norm:
                continue
            if layer.type == "pool" and self.pool_size:
                layer = replace(layer, size=self.pool_size)
            if self.neuron != "as_listed" and layer.neuron != "ident":
                layer = replace(layer, neuron=self.neuron)
            out.append(layer)
        return tuple(out)

    def validate(self) -> None:
        if not self.layers or self.layers[-1].type != "fc":
            raise ValueError("the last layer must be the fc layer that feeds the softmax")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_smoothing < 1.0 or self.pool_size < 0:
            raise ValueError("dropout and label_smoothing must be in [0, 1), pool_size >= 0")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        shapes(self)  # raises on a layer that does not fit its input
        self.ops.validate()


def pool_out(size: int, window: int, stride: int) -> int:
    """cuda-convnet's outputsX: ceil((size - window) / stride) + 1."""
    return -(-(size - window) // stride) + 1


def _ceil_mode_out(size: int, window: int, stride: int) -> int:
    """torch's output count with ceil_mode=True and no padding: ceil((size - window) / stride) + 1,
    less one when the last window would start outside the input."""
    out = pool_out(size, window, stride)
    return out - 1 if (out - 1) * stride >= size else out


def pool_reference(x: torch.Tensor, layer: LayerSpec, avg_divisor: str = "window") -> torch.Tensor:
    """cuda-convnet's pooling written out on a padded copy (what ``ConvNet._pool`` ran before issue 32;
    the tests compare the two): average = the in-bounds sum (zeros outside) / z^2, or / the in-bounds
    count; max = the max with the overhang -inf."""
    z, st, size = layer.size, layer.stride, x.shape[-1]
    extra = (pool_out(size, z, st) - 1) * st + z - size
    if layer.pool == "max":
        return F.max_pool2d(F.pad(x, (0, extra, 0, extra), value=float("-inf")), z, st)
    sums = F.avg_pool2d(F.pad(x, (0, extra, 0, extra)), z, st, divisor_override=z * z)
    if avg_divisor == "window" or not extra:
        return sums
    inside = F.avg_pool2d(F.pad(x.new_ones(1, 1, size, size), (0, extra, 0, extra)), z, st, divisor_override=z * z)
    return sums / inside


def shapes(cfg: ConvNetConfig) -> dict[str, tuple[int, ...]]:
    """Each layer's output shape: (C, H, W), or (F,) for fc."""
    c, s = cfg.in_channels, cfg.input_size
    out: dict[str, tuple[int, ...]] = {}
    flat = None
    for layer in cfg.effective_layers():
        if layer.type in ("conv", "local"):
            if flat is not None:
                raise ValueError(f"layer {layer.name}: {layer.type} after an fc layer")
            s = (s + 2 * layer.padding - layer.size) // layer.stride + 1
            c = layer.filters
        elif layer.type == "pool":
            if layer.size > s:
                raise ValueError(f"layer {layer.name}: a {layer.size}x{layer.size} window on {s}x{s} maps")
            s = pool_out(s, layer.size, layer.stride)
        elif layer.type == "fc":
            flat = layer.outputs
        if s < 1:
            raise ValueError(f"layer {layer.name}: the input is too small (input_size {cfg.input_size})")
        out[layer.name] = (flat,) if flat is not None else (c, s, s)
    return out


class ConvNet(nn.Module):
    """The network of a `ConvNetConfig`; parameters are named <layer>.weight / <layer>.bias."""

    def __init__(self, cfg: ConvNetConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = cfg.effective_layers()
        self.blocks = nn.ModuleDict()
        self.neurons = nn.ModuleDict()
        self.norms = nn.ModuleDict()  # batchnorm switch: after conv/local layers
        ops = cfg.ops
        c, s = cfg.in_channels, cfg.input_size
        sizes = shapes(cfg)
        features = None
        # The dropout switch: on the last fc layer's input, through the seam.
        self.drop = make("dropout", ops.dropout, p=cfg.dropout) if cfg.dropout else nn.Identity()
        for layer in self.layers:
            if layer.type == "conv":
                block = make("conv", ops.conv, in_channels=c, out_channels=layer.filters, kernel_size=layer.size,
                             stride=layer.stride, padding=layer.padding, groups=1)
            elif layer.type == "local":
                block = LocallyConnected2d(c, layer.filters, s, layer.size, layer.stride, layer.padding)
            elif layer.type == "pool" and layer.pool == "max":
                block = make("pool", ops.pool, kernel_size=layer.size, stride=layer.stride)
            elif layer.type == "pool":
                block = nn.Identity()  # avg: F.avg_pool2d in forward (no seam kind for it)
            elif layer.type == "rnorm":
                block = SameMapResponseNorm(layer.size, layer.scale, layer.power)
            elif layer.type == "cmrnorm":
                block = cross_map_norm(layer.size, layer.scale, layer.power, ops.lrn)
            else:
                features = features or c * s * s
                block = make("fc", ops.fc, in_features=features, out_features=layer.outputs)
                features = layer.outputs
            self.blocks[layer.name] = block
            self.neurons[layer.name] = _neuron(layer.neuron, ops)
            shape = sizes[layer.name]
            if cfg.batchnorm and layer.type in ("conv", "local"):
                self.norms[layer.name] = nn.BatchNorm2d(shape[0])
            if len(shape) == 3:
                c, s = shape[0], shape[1]
        self.neuron_after_pool = self._neurons_moved_past_max_pools()

    def _neurons_moved_past_max_pools(self) -> frozenset[str]:
        """The conv layers whose neuron runs after the max pooling that follows them instead (issue 32),
        on a quarter of the elements (3x3 windows, stride 2). Both neurons are non-decreasing, so
        f(maxpool(x)) = maxpool(f(x)):
        - ReLU: the same maxima at the same positions (a tie among positive values is the same tie; an
          all-non-positive window gives 0 and no gradient either way): the same fp32 values and
          gradients, bit for bit;
        - tanh: the same function; in fp32 the pooled value is tanh of the window's largest input, and
          its gradient goes to that input, where pooling after tanh may pick another input whose tanh
          rounded to the same float (or one ulp above it): results within float rounding of each other,
          the moved form the closer one to exact arithmetic's (fp64 to 1e-12, tests/alexnet2012/convnet).
        Only torch's ReLU and tanh: a custom conv applies its ReLU in its own epilogue, and a batchnorm
        between the conv and its neuron keeps the neuron in place."""
        moved = set()
        for layer, after in zip(self.layers, self.layers[1:]):
            neuron = self.neurons[layer.name]
            if (layer.type == "conv" and after.type == "pool" and after.pool == "max"
                    and layer.name not in self.norms and type(neuron) in (nn.ReLU, nn.Tanh)
                    and not isinstance(self.blocks[layer.name], RELU_EPILOGUE)):
                moved.add(layer.name)
        return frozenset(moved)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        moved = None  # the previous conv's neuron, to run after this max pooling
        for i, layer in enumerate(self.layers):
            block, neuron = self.blocks[layer.name], self.neurons[layer.name]
            if layer.type == "pool":
                x = self._pool(layer, block, x)
                if moved is not None:
                    # torch's pooling saves its input, not its output: a ReLU may overwrite it in place
                    x = F.relu_(x) if type(moved) is nn.ReLU and type(block) is nn.MaxPool2d else moved(x)
                x, moved = neuron(x), None
            elif layer.name in self.neuron_after_pool:
                x, moved = block(x), neuron
            elif layer.name in self.norms:
                x = neuron(self.norms[layer.name](block(x)))
            elif layer.type in WEIGHTED:
                if layer.type == "fc":
                    x = x.flatten(1)
                if i == last:
                    x = self.drop(x)
                x = activate(block, neuron, x)
            else:
                x = neuron(block(x))
        return x

    def _pool(self, layer: LayerSpec, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        z, st, size = layer.size, layer.stride, x.shape[-1]
        out = pool_out(size, z, st)
        extra = (out - 1) * st + z - size  # how far the last window hangs off the edge
        # torch's ceil_mode clips the last window to the input, as cuda-convnet does, whenever its
        # output count is cuda-convnet's (the last window starts inside: z >= s): no padded copy
        # (a fill and a copy forward, a slice copy backward). Same sums, same maxima and indices.
        ceil = extra > 0 and _ceil_mode_out(size, z, st) == out
        if layer.pool == "avg":
            if ceil or not extra:
                if self.cfg.avg_divisor == "window":  # the in-bounds sum / z^2
                    return F.avg_pool2d(x, z, st, ceil_mode=ceil, divisor_override=z * z)
                # count_include_pad with no padding: the clipped window's size (torch's pool_size).
                return F.avg_pool2d(x, z, st, ceil_mode=ceil, count_include_pad=True)
            return pool_reference(x, layer, self.cfg.avg_divisor)
        if ceil and type(block) is nn.MaxPool2d:
            return F.max_pool2d(x, z, st, ceil_mode=True)
        # Max over the in-bounds part: the overhang is -inf, never the max.
        return block(F.pad(x, (0, extra, 0, extra), value=float("-inf")) if extra else x)

    def counts(self) -> dict[str, int]:
        counts = {layer.name: sum(p.numel() for p in self.blocks[layer.name].parameters())
                  for layer in self.layers if layer.type in WEIGHTED}
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts


def _neuron(kind: str, ops: OpsConfig) -> nn.Module:
    if kind == "relu":
        return make("activation", ops.activation)
    if kind == "tanh":
        return nn.Tanh()
    return nn.Identity()


def build_convnet(cfg: ConvNetConfig, seed: int) -> ConvNet:
    """Weights N(0, initW^2) per layer, biases 0, drawn in layer order from ``seed``."""
    cfg.validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ConvNet(cfg)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            if layer.type in WEIGHTED:
                block = model.blocks[layer.name]
                block.weight.normal_(0.0, layer.init_w, generator=generator)
                block.bias.zero_()
    return model


def param_groups(model: ConvNet, lr_scale: float = 1.0) -> list[dict]:
    """One SGD group per weight and bias tensor with its layer's rates (times ``lr_scale``)."""
    groups = []
    for layer in model.layers:
        if layer.type not in WEIGHTED:
            continue
        block = model.blocks[layer.name]
        groups.append({"params": [block.weight], "lr": layer.eps_w * lr_scale, "momentum": layer.mom_w,
                       "weight_decay": layer.wc, "name": f"{layer.name}.weight"})
        groups.append({"params": [block.bias], "lr": layer.eps_b * lr_scale, "momentum": layer.mom_b,
                       "weight_decay": 0.0, "name": f"{layer.name}.bias"})
    if model.norms:  # the batchnorm switch's scales and shifts: the default rates, no decay
        groups.append({"params": list(model.norms.parameters()), "lr": 0.001 * lr_scale, "momentum": 0.9,
                       "weight_decay": 0.0, "name": "batchnorm"})
    return groups

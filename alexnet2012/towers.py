"""The paper's model parallelism (section 3.2, Figure 2): half of every layer on
each of two devices, talking only at conv3, fc6 and fc7.

    device A (tower A)                     device B (tower B)
    conv1 48, LRN, pool                    conv1 48, LRN, pool
    conv2 128, LRN, pool                   conv2 128, LRN, pool
              \\---- exchange pool2 maps ----/
    conv3 192 (from all 256 maps)          conv3 192 (from all 256 maps)
    conv4 192, conv5 128, pool             conv4 192, conv5 128, pool
              \\---- exchange pool5 maps ----/
    fc6 2048 (from both towers)            fc6 2048 (from both towers)
              \\---- exchange fc6 outputs ---/
    fc7 2048 (from both halves)            fc7 2048 (from both halves)
              \\---- fc7 outputs go to A ----/
    fc8 (on A)

Figure 2 draws the output layer across both GPUs; computing it on device A from
the gathered fc7 outputs is the same function. A grouped `AlexNet`
("two_tower", LRN per tower) splits exactly: every parameter of conv1..fc7 is
cut in half along its first (output) dimension, fc8 stays whole. Built with
devices ("cpu", "cpu") it runs anywhere (CI), with ("cuda:0", "cuda:1") it is
the two-GPU net.
"""

from __future__ import annotations

import torch
from torch import nn

from .model import PARAM_LAYERS, AlexNet, AlexNetConfig, layer_shapes, lrn_alpha
from .ops import make
from .ops.fusion import activate

# Every parameter of these layers is split in two halves along dim 0.
SPLIT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")


class Tower(nn.Module):
    """One GPU's half of the network: the same layer names as `AlexNet`, half widths."""

    def __init__(self, cfg: AlexNetConfig, fc6_inputs: int):
        super().__init__()
        ops = cfg.ops
        c1, c2, c3, c4, c5 = (c // 2 for c in cfg.effective_channels)
        half = cfg.fc_width // 2

        def conv(cin: int, cout: int, kernel: int, stride: int, padding: int) -> nn.Module:
            return make("conv", ops.conv, in_channels=cin, out_channels=cout, kernel_size=kernel,
                        stride=stride, padding=padding, groups=1)

        def norm() -> nn.Module:
            # A tower's LRN sees only its own maps: lrn_scope "tower".
            return make("lrn", ops.lrn, size=cfg.lrn_n, alpha=lrn_alpha(cfg), beta=cfg.lrn_beta, k=cfg.lrn_k,
                        groups=1)

        def relu() -> nn.Module:
            return make("activation", ops.activation)

        def pool() -> nn.Module:
            return make("pool", ops.pool, kernel_size=3, stride=2)

        self.conv1 = conv(3, c1, cfg.conv1_kernel, cfg.conv1_stride, cfg.effective_conv1_padding)
        self.relu1, self.norm1, self.pool1 = relu(), norm(), pool()
        self.conv2 = conv(c1, c2, 5, 1, 2)
        self.relu2, self.norm2, self.pool2 = relu(), norm(), pool()
        self.conv3 = conv(2 * c2, c3, 3, 1, 1)  # reads both towers
        self.relu3 = relu()
        self.conv4 = conv(c3, c4, 3, 1, 1)
        self.relu4 = relu()
        self.conv5 = conv(c4, c5, 3, 1, 1)
        self.relu5, self.pool5 = relu(), pool()
        self.fc6 = make("fc", ops.fc, in_features=fc6_inputs, out_features=half)  # reads both towers
        self.relu6 = relu()
        self.drop6 = make("dropout", ops.dropout, p=cfg.dropout)
        self.fc7 = make("fc", ops.fc, in_features=2 * half, out_features=half)  # reads both halves of fc6
        self.relu7 = relu()
        self.drop7 = make("dropout", ops.dropout, p=cfg.dropout)

    def lower(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> this tower's pool2 maps (conv1, conv2: own tower only)."""
        x = self.pool1(self.norm1(activate(self.conv1, self.relu1, x)))
        return self.pool2(self.norm2(activate(self.conv2, self.relu2, x)))

    def upper(self, pool2_both: torch.Tensor) -> torch.Tensor:
        """Both towers' pool2 maps -> this tower's pool5 maps, flattened."""
        x = activate(self.conv3, self.relu3, pool2_both)
        x = activate(self.conv4, self.relu4, x)
        return self.pool5(activate(self.conv5, self.relu5, x)).flatten(1)

    def hidden6(self, pool5_both: torch.Tensor) -> torch.Tensor:
        return self.drop6(activate(self.fc6, self.relu6, pool5_both))

    def hidden7(self, fc6_both: torch.Tensor) -> torch.Tensor:
        return self.drop7(activate(self.fc7, self.relu7, fc6_both))


class TowerParallelAlexNet(nn.Module):
    """The two-tower AlexNet with tower A on ``devices[0]`` and tower B on ``devices[1]``."""

    def __init__(self, cfg: AlexNetConfig, devices: tuple[str, str]):
        super().__init__()
        check_splittable(cfg)
        self.cfg = cfg
        self.devices = (torch.device(devices[0]), torch.device(devices[1]))
        # Direct construction draws PyTorch's default init; `from_model` is the
        # usual way in, with the weights of a grouped model.
        c, h, w = layer_shapes(cfg)["pool5"]
        self.tower_a = Tower(cfg, c * h * w).to(self.devices[0])
        self.tower_b = Tower(cfg, c * h * w).to(self.devices[1])
        self.fc8 = make("fc", cfg.ops.fc, in_features=cfg.fc_width, out_features=cfg.num_classes).to(self.devices[0])

    @classmethod
    def from_model(cls, model: AlexNet, devices: tuple[str, str]) -> TowerParallelAlexNet:
        """Split a grouped two-tower `AlexNet`'s weights; both compute the same function."""
        # Build on the meta device: the weights come from `model`, not an initialiser.
        with torch.device("meta"):
            split = cls(model.cfg, ("meta", "meta"))
        split.devices = (torch.device(devices[0]), torch.device(devices[1]))
        split.load_grouped_state(model.state_dict())
        split.train(model.training)
        return split

    def load_grouped_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy a grouped `AlexNet` state dict into the towers (halves along dim 0)."""
        tower_state: dict[str, dict[str, torch.Tensor]] = {"a": {}, "b": {}}
        fc8: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            layer, _, leaf = key.partition(".")
            if layer in SPLIT_LAYERS:
                a, b = value.detach().chunk(2, dim=0)
                tower_state["a"][key] = a.to(self.devices[0], copy=True)
                tower_state["b"][key] = b.to(self.devices[1], copy=True)
            elif layer == "fc8":
                fc8[leaf] = value.detach().to(self.devices[0], copy=True)
        # Towers still on the meta device (from_model) take the tensors as they
        # are; live towers copy in place, so an optimizer keeps its parameters.
        assign = self.fc8.weight.is_meta
        self.tower_a.load_state_dict(tower_state["a"], assign=assign)
        self.tower_b.load_state_dict(tower_state["b"], assign=assign)
        self.fc8.load_state_dict(fc8, assign=assign)

    def grouped_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters as a grouped `AlexNet` state dict: new CPU tensors."""
        return self._gather(lambda p: p.detach())

    def grouped_grads(self) -> dict[str, torch.Tensor | None]:
        """The parameters' gradients, keyed and shaped like the grouped model's."""
        return self._gather(lambda p: p.grad)

    def _gather(self, get) -> dict:
        out = {}
        for layer in PARAM_LAYERS:
            for leaf in ("weight", "bias"):
                if layer == "fc8":
                    value = get(getattr(self.fc8, leaf))
                    # A copy even on the CPU: the result must not alias live parameters.
                    out[f"{layer}.{leaf}"] = None if value is None else value.to("cpu", copy=True)
                    continue
                a = get(getattr(getattr(self.tower_a, layer), leaf))
                b = get(getattr(getattr(self.tower_b, layer), leaf))
                out[f"{layer}.{leaf}"] = None if a is None or b is None else torch.cat([a.cpu(), b.cpu()])
        return out

    def to_model(self) -> AlexNet:
        """A grouped `AlexNet` on the CPU with these weights (for checkpoints, comparisons)."""
        with torch.device("meta"):
            model = AlexNet(self.cfg)
        model.load_state_dict(self.grouped_state_dict(), assign=True)
        return model.train(self.training)

    def _exchange(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both halves on both devices, tower A's first (the grouped model's channel order)."""
        dev_a, dev_b = self.devices
        return torch.cat([a, b.to(dev_a)], 1), torch.cat([a.to(dev_b), b], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dev_a, dev_b = self.devices
        x = x.to(dev_a)
        # Each GPU gets the whole image.
        a, b = self.tower_a.lower(x), self.tower_b.lower(x.to(dev_b))
        both_a, both_b = self._exchange(a, b)
        a, b = self.tower_a.upper(both_a), self.tower_b.upper(both_b)
        both_a, both_b = self._exchange(a, b)
        a, b = self.tower_a.hidden6(both_a), self.tower_b.hidden6(both_b)
        both_a, both_b = self._exchange(a, b)
        a, b = self.tower_a.hidden7(both_a), self.tower_b.hidden7(both_b)
        return self.fc8(torch.cat([a, b.to(dev_a)], 1))


def check_splittable(cfg: AlexNetConfig) -> None:
    """Raise ValueError unless the grouped model splits exactly into two towers."""
    if cfg.variant != "two_tower":
        raise ValueError(f"only the two_tower variant splits into towers, got {cfg.variant!r}")
    if cfg.lrn_scope != "tower":
        # "layer" LRN mixes the maps on both sides of the boundary: no longer two towers.
        raise ValueError("the tower split needs lrn_scope='tower' (each GPU normalises its own maps)")
    if cfg.fc_width % 2:
        raise ValueError(f"fc_width must be even to split fc6/fc7 in halves, got {cfg.fc_width}")
    cfg.validate()

"""The 2012 network: Figure 2's shapes, the parameter counts, the paper's init, configs."""

import pytest
import torch

from alexnet2012.model import (
    LAYERS,
    PAPER_LAYER_PARAMS,
    PAPER_PARAMS,
    AlexNet,
    AlexNetConfig,
    build_loss,
    build_model,
)
from alexnet2012.ops import registry
from repro.config import ConfigError, parse

FIGURE_2 = {
    "conv1": (96, 55, 55), "pool1": (96, 27, 27), "conv2": (256, 27, 27), "pool2": (256, 13, 13),
    "conv3": (384, 13, 13), "conv4": (384, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6),
    "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
}
CIFAR = dict(input_size=28, conv1_kernel=5, conv1_stride=1, conv1_padding=2,
             channels=(48, 128, 192, 192, 128), fc_width=512, num_classes=10)


@pytest.fixture(scope="module")
def paper_model() -> AlexNet:
    return build_model(AlexNetConfig(), seed=0)


def _meta(cfg: AlexNetConfig) -> AlexNet:
    # Shapes and counts without drawing 61M random numbers.
    cfg.validate()
    with torch.device("meta"):
        return AlexNet(cfg)


def _shapes(model: AlexNet, size: int) -> dict:
    device = next(model.parameters()).device
    with torch.no_grad():
        acts = model.eval().activations(torch.randn(1, 3, size, size, device=device))
    return {name: tuple(a.shape[1:]) for name, a in acts.items()}


def test_figure_2_shapes_at_224_with_padding_2(paper_model):
    assert paper_model.cfg.effective_conv1_padding == 2
    assert list(_shapes(paper_model, 224)) == list(LAYERS)
    assert _shapes(paper_model, 224) == paper_model.layer_shapes() == FIGURE_2


def test_figure_2_shapes_at_227_without_padding():
    model = _meta(AlexNetConfig(input_size=227))
    assert model.cfg.effective_conv1_padding == 0
    assert _shapes(model, 227) == model.layer_shapes() == FIGURE_2
    # 224 without padding would give 54x54 conv1 maps, 5x5 pool5 maps.
    unpadded = AlexNetConfig(conv1_padding=0)
    assert _shapes(_meta(unpadded), 224)["conv1"] == (96, 54, 54)
    assert _meta(unpadded).layer_shapes()["pool5"] == (256, 5, 5)


def test_paper_parameter_counts(paper_model):
    counts = paper_model.counts()
    assert counts == {**PAPER_LAYER_PARAMS, "total": PAPER_PARAMS}
    assert PAPER_PARAMS == 60_965_224
    assert sum(p.numel() for p in paper_model.parameters()) == 60_965_224
    assert tuple(paper_model.conv2.weight.shape) == (256, 48, 5, 5)  # own tower's 48 maps
    assert tuple(paper_model.conv3.weight.shape) == (384, 256, 3, 3)  # both towers
    assert tuple(paper_model.fc6.weight.shape) == (4096, 9216)


def test_one_tower_and_torchvision_counts():
    one = _meta(AlexNetConfig(variant="one_tower"))
    assert one.counts()["total"] == 62_378_344
    # Ungrouped conv2, conv4, conv5 read all maps: +307,200 +663,552 +442,368 weights.
    assert one.counts()["conv2"] - PAPER_LAYER_PARAMS["conv2"] == 307_200
    tv = _meta(AlexNetConfig(variant="torchvision"))
    assert tv.counts()["total"] == 61_100_840
    # torchvision.models.alexnet's parameter shapes, in order.
    assert [tuple(p.shape) for p in tv.parameters()] == [
        (64, 3, 11, 11), (64,), (192, 64, 5, 5), (192,), (384, 192, 3, 3), (384,),
        (256, 384, 3, 3), (256,), (256, 256, 3, 3), (256,),
        (4096, 9216), (4096,), (4096, 4096), (4096,), (1000, 4096), (1000,),
    ]
    assert _shapes(tv, 224)["pool5"] == (256, 6, 6)


def test_dropout_placement():
    # Paper: dropout on the outputs of fc6 and fc7; torchvision: on the inputs of fc6 and fc7.
    widths = {}
    for variant in ("two_tower", "torchvision"):
        model = _meta(AlexNetConfig(variant=variant, **{**CIFAR, "channels": None}))
        for name in ("drop6", "drop7"):
            getattr(model, name).register_forward_hook(
                lambda module, inputs, output, key=(variant, name): widths.__setitem__(key, inputs[0].shape[1]))
        model(torch.zeros(2, 3, 28, 28, device="meta"))
    assert widths == {("two_tower", "drop6"): 512, ("two_tower", "drop7"): 512,
                      ("torchvision", "drop6"): 256 * 6 * 6, ("torchvision", "drop7"): 512}


def test_paper_init(paper_model):
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        w = getattr(paper_model, name).weight
        assert abs(w.std().item() - 0.01) < 0.0005, name
        assert abs(w.mean().item()) < 0.0005, name
        expected_bias = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        bias = getattr(paper_model, name).bias
        assert torch.equal(bias, torch.full_like(bias, expected_bias)), name
    # fc6 has 37.7M draws: its std is 0.01 to 4 digits.
    assert paper_model.fc6.weight.std().item() == pytest.approx(0.01, rel=1e-3)


def test_same_seed_same_weights_and_callers_rng_untouched():
    for init in ("paper", "torch_default"):
        c = AlexNetConfig(**{**CIFAR, "init": init})
        torch.manual_seed(123)
        a = build_model(c, seed=5).state_dict()
        after = torch.rand(1)
        torch.manual_seed(123)
        b = build_model(c, seed=5).state_dict()
        assert torch.equal(torch.rand(1), after)  # building did not consume the global RNG
        other = build_model(c, seed=6).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not torch.equal(a["conv1.weight"], other["conv1.weight"])
    default = build_model(AlexNetConfig(**{**CIFAR, "init": "torch_default"}), seed=5)
    # PyTorch's default: uniform in +-1/sqrt(fan_in), here 1/sqrt(3*5*5) = 0.115.
    assert default.conv1.weight.abs().max().item() <= 1 / 75**0.5
    assert default.conv1.weight.std().item() > 0.05


def test_cifar_scale_alexnet_trains():
    cfg = AlexNetConfig(**CIFAR)
    model = build_model(cfg, seed=0)
    assert model.layer_shapes() == {
        "conv1": (48, 28, 28), "pool1": (48, 13, 13), "conv2": (128, 13, 13), "pool2": (128, 6, 6),
        "conv3": (192, 6, 6), "conv4": (192, 6, 6), "conv5": (128, 6, 6), "pool5": (128, 2, 2),
        "fc6": (512,), "fc7": (512,), "fc8": (10,),
    }
    assert _shapes(model, 28) == model.layer_shapes()
    x = torch.randn(4, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3])
    with torch.random.fork_rng(devices=[]):  # dropout's draws: seeded, and the global RNG left as it was
        torch.manual_seed(0)
        logits = model.train()(x)
    assert logits.shape == (4, 10)
    loss = build_loss(cfg)(logits, y)
    # Paper init: N(0, 0.01) weights give near-uniform outputs, loss ~ log(10) (2.377 with these seeds;
    # unseeded, the draws of x and of dropout moved it by more than the old 0.05 now and then).
    assert loss.item() == pytest.approx(2.302585, abs=0.1)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # It trains: SGD steps on the batch (dropout off: the same function each step) lower the loss.
    model.eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        step = build_loss(cfg)(model(x), y)
        step.backward()
        opt.step()
        losses.append(step.item())
    # Measured: 2.385 -> 1.622 (the paper init starts slowly; a model that does not learn stays at log 10).
    assert losses[-1] < 0.8 * losses[0], f"20 SGD steps on 4 images took the loss from {losses[0]:.3f} only to {losses[-1]:.3f}"


def test_grouped_convs_see_only_their_own_tower(paper_model):
    torch.manual_seed(0)
    x = torch.randn(1, 96, 27, 27)
    y = x.clone()
    y[:, 48:] += 1.0  # change tower B's conv1 maps only
    with torch.no_grad():
        a, b = paper_model.conv2(x), paper_model.conv2(y)
        assert torch.equal(a[:, :128], b[:, :128]) and not torch.equal(a[:, 128:], b[:, 128:])
        # conv3 reads both towers.
        z = torch.randn(1, 256, 13, 13)
        w = z.clone()
        w[:, 128:] += 1.0
        assert not torch.equal(paper_model.conv3(z)[:, :192], paper_model.conv3(w)[:, :192])
    assert paper_model.norm1.groups == 2
    assert _meta(AlexNetConfig(lrn_scope="layer")).norm1.groups == 1


def test_config_parses_from_yaml_like_mapping():
    cfg = parse(AlexNetConfig, {**CIFAR, "channels": [48, 128, 192, 192, 128], "ops": {"conv": "torch"}}, "model")
    assert cfg.channels == (48, 128, 192, 192, 128) and cfg.effective_channels == cfg.channels
    assert parse(AlexNetConfig, {}, "model") == AlexNetConfig()
    assert AlexNetConfig(variant="torchvision").effective_channels == (64, 192, 384, 256, 256)
    assert AlexNetConfig(variant="torchvision", input_size=227).effective_conv1_padding == 2
    with pytest.raises(ConfigError, match=r"model.ops: lrn: unknown implementation 'cuda'; available: \['custom', 'torch', 'torch_composite'\]"):
        parse(AlexNetConfig, {"ops": {"lrn": "cuda"}}, "model")
    with pytest.raises(ConfigError, match="channels must be even"):
        parse(AlexNetConfig, {"channels": [95, 256, 384, 384, 256]}, "model")
    with pytest.raises(ConfigError, match="input_size 32 is too small: pool5"):
        parse(AlexNetConfig, {"input_size": 32}, "model")
    with pytest.raises(ConfigError, match="lrn_n must be odd"):
        parse(AlexNetConfig, {"lrn_n": 4}, "model")
    with pytest.raises(ConfigError, match="not one of"):
        parse(AlexNetConfig, {"variant": "three_tower"}, "model")


def test_model_builds_the_configured_impls(monkeypatch):
    from torch import nn

    monkeypatch.setitem(registry._REGISTRY["pool"], "avg", nn.AvgPool2d)  # same (kernel_size, stride) args
    model = _meta(AlexNetConfig(ops=registry.OpsConfig(pool="avg")))
    assert all(isinstance(getattr(model, p), nn.AvgPool2d) for p in ("pool1", "pool2", "pool5"))

"""The ops seam: the registry of implementations per layer type, its errors, the torch
implementations, and the config presets (conf/model/ops/)."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from alexnet2012.kernels import bias_relu, conv, dropout, lrn, maxpool, softmax_xent
from alexnet2012.ops import KINDS, OpsConfig, available, make, register, registry

PRESETS = Path(__file__).resolve().parents[3] / "conf" / "alexnet2012" / "model" / "ops"


def test_unknown_impl_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown implementation 'cuda' for op 'lrn'; available: \['custom', 'torch', 'torch_composite'\]"):
        make("lrn", "cuda", size=5)
    with pytest.raises(ValueError, match=r"unknown op kind 'deconv'.*'conv', 'fc', 'lrn'"):
        make("deconv", "torch")
    with pytest.raises(ValueError, match=r"conv: unknown implementation 'cudnn'; available: \['custom', 'torch', 'torch_direct'\]"):
        OpsConfig(conv="cudnn").validate()
    with pytest.raises(ValueError, match="already has an implementation named 'torch'"):
        register("pool", "torch", nn.MaxPool2d)
    OpsConfig().validate()


def test_registered_impl_is_available_and_built(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY["pool"], "avg", nn.AvgPool2d)  # same (kernel_size, stride) args
    assert available("pool") == ("avg", "custom", "torch")
    OpsConfig(pool="avg").validate()
    assert isinstance(make("pool", "avg", kernel_size=3, stride=2), nn.AvgPool2d)


def test_torch_impls():
    conv = make("conv", "torch", in_channels=4, out_channels=6, kernel_size=5, stride=1, padding=2, groups=2)
    assert tuple(conv.weight.shape) == (6, 2, 5, 5) and tuple(conv.bias.shape) == (6,)
    # Overlapping pooling, z=3 s=2: 55 -> 27, 27 -> 13, 13 -> 6 (Figure 2).
    pool = make("pool", "torch", kernel_size=3, stride=2)
    assert [pool(torch.zeros(1, 1, s, s)).shape[-1] for s in (55, 27, 13)] == [27, 13, 6]
    x = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 5.0]])[None, None]
    assert pool(x).item() == 5.0
    assert make("activation", "torch")(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]
    drop = make("dropout", "torch", p=0.5)
    assert drop.p == 0.5 and torch.equal(drop.eval()(torch.ones(3)), torch.ones(3))
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.tensor([0, 1])
    loss = make("loss", "torch")(logits, labels)
    # mean of -log softmax: (log(1 + e^-2) + log 2) / 2
    assert loss.item() == pytest.approx((torch.log1p(torch.exp(torch.tensor(-2.0))).item() + 0.6931471805599453) / 2)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, labels).item())
    # LRN: "torch" is the closed form on the CPU, "torch_composite" torch's F.local_response_norm; one function.
    auto, composite = (make("lrn", impl, size=5, alpha=1e-2, beta=0.75, k=2.0, groups=2) for impl in ("torch", "torch_composite"))
    assert (auto.formulation, composite.formulation) == ("auto", "composite")
    a = torch.randn(2, 8, 3, 3, dtype=torch.float64) * 10
    torch.testing.assert_close(auto(a), composite(a), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(auto(a), a / 2**0.75)


def test_presets_name_one_registered_implementation_per_kind():
    custom = {"conv": conv.Conv2d, "fc": conv.Linear, "lrn": lrn.LRN, "pool": maxpool.MaxPool,
              "activation": bias_relu.BiasReLU, "dropout": dropout.Dropout, "loss": softmax_xent.CrossEntropy}
    for preset in ("torch", "custom", "custom_cudnn_conv"):
        choice = yaml.safe_load((PRESETS / f"{preset}.yaml").read_text())
        assert set(choice) == set(KINDS), preset
        OpsConfig(**choice).validate()
        for kind, impl in choice.items():
            assert (registry._REGISTRY[kind][impl] is custom[kind]) == (impl == "custom"), (preset, kind)

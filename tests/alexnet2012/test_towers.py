"""The two-device tower split computes exactly what the grouped two-tower model computes."""

import pytest
import torch

from alexnet2012.model import AlexNetConfig, build_loss, build_model
from alexnet2012.towers import TowerParallelAlexNet

# A small two-tower net (pool5 is 2x2, so fc6's flatten order matters).
SMALL = AlexNetConfig(input_size=28, conv1_kernel=5, conv1_stride=1, conv1_padding=2,
                      channels=(8, 16, 24, 24, 16), fc_width=32, num_classes=10)
CPU2 = ("cpu", "cpu")


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> None:
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item())


def test_split_and_merge_are_exact_inverses():
    grouped = build_model(SMALL, seed=0)
    split = TowerParallelAlexNet.from_model(grouped, CPU2)
    assert tuple(split.tower_a.conv1.weight.shape) == (4, 3, 5, 5)
    assert tuple(split.tower_b.conv2.weight.shape) == (8, 4, 5, 5)  # own tower only
    assert tuple(split.tower_a.conv3.weight.shape) == (12, 16, 3, 3)  # both towers' maps
    assert tuple(split.tower_b.fc6.weight.shape) == (16, 16 * 2 * 2)
    assert tuple(split.fc8.weight.shape) == (10, 32)
    assert torch.equal(split.tower_b.conv3.weight, grouped.conv3.weight[12:])
    assert sum(p.numel() for p in split.parameters()) == sum(p.numel() for p in grouped.parameters())
    merged = split.to_model().state_dict()
    assert merged.keys() == grouped.state_dict().keys()
    assert all(torch.equal(merged[k], v) for k, v in grouped.state_dict().items())
    # Neither direction shares tensors: training the split leaves both models alone.
    merged_model = split.to_model()
    with torch.no_grad():
        split.tower_a.conv1.weight.add_(1.0)
        split.fc8.weight.add_(1.0)
    assert torch.equal(merged_model.fc8.weight, grouped.fc8.weight)
    assert torch.equal(merged_model.conv1.weight, grouped.conv1.weight)
    assert torch.equal(split.to_model().fc8.weight, grouped.fc8.weight + 1.0)


def test_same_logits_and_gradients():
    # float64: with N(0, 0.01) weights the early layers' gradients are ~1e-10,
    # sums of cancelling terms that float32 only gets to a few percent.
    grouped = build_model(SMALL, seed=1).double().eval()
    split = TowerParallelAlexNet.from_model(grouped, CPU2).eval()
    torch.manual_seed(0)
    x, y = torch.randn(6, 3, 28, 28, dtype=torch.float64) * 10, torch.arange(6)
    loss = build_loss(SMALL)
    ref_logits, logits = grouped(x), split(x)
    _close(logits, ref_logits, rtol=1e-12)
    assert ref_logits.std() > 1e-4  # not a trivial all-equal output
    loss(ref_logits, y).backward()
    loss(logits, y).backward()
    grads = split.grouped_grads()
    for name, p in grouped.named_parameters():
        assert p.grad.abs().max() > 0, name
        _close(grads[name], p.grad, rtol=1e-9)


def test_a_few_sgd_steps_give_the_same_weights():
    cfg = AlexNetConfig(**{**SMALL.__dict__, "dropout": 0.0})  # dropout masks would differ
    grouped = build_model(cfg, seed=2).double().train()
    split = TowerParallelAlexNet.from_model(grouped, CPU2)
    assert split.training
    opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4) for m in (grouped, split)]
    loss = build_loss(cfg)
    torch.manual_seed(0)
    for _ in range(3):
        x, y = torch.randn(8, 3, 28, 28, dtype=torch.float64) * 10, torch.randint(0, 10, (8,))
        for model, opt in zip((grouped, split), opts):
            opt.zero_grad()
            loss(model(x), y).backward()
            opt.step()
    start = build_model(cfg, seed=2).double().state_dict()
    merged = split.grouped_state_dict()
    for name, value in grouped.state_dict().items():
        assert not torch.equal(value, start[name]), name  # the steps moved every parameter
        _close(merged[name], value, rtol=1e-9)


def test_paper_size_split():
    grouped = build_model(AlexNetConfig(), seed=0).eval()
    split = TowerParallelAlexNet.from_model(grouped, CPU2)
    assert tuple(split.tower_a.fc6.weight.shape) == (2048, 256 * 6 * 6)
    assert tuple(split.tower_a.fc7.weight.shape) == (2048, 4096)
    x = torch.randn(1, 3, 224, 224) * 50  # large enough for LRN to matter
    with torch.no_grad():
        logits = split(x)
        assert logits.shape == (1, 1000) and logits.device == torch.device("cpu")
        _close(logits, grouped(x))


def test_only_a_tower_split_two_tower_model_is_accepted():
    for bad, match in (({"variant": "one_tower"}, "only the two_tower variant"),
                       ({"lrn_scope": "layer"}, "lrn_scope='tower'"),
                       ({"fc_width": 33}, "fc_width must be even")):
        cfg = AlexNetConfig(**{**SMALL.__dict__, **bad})
        with pytest.raises(ValueError, match=match):
            TowerParallelAlexNet.from_model(build_model(cfg, seed=0), CPU2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_gpus():
    devices = ("cuda:0", "cuda:1") if torch.cuda.device_count() > 1 else ("cuda:0", "cuda:0")
    grouped = build_model(SMALL, seed=3).eval()
    split = TowerParallelAlexNet.from_model(grouped, devices)
    assert split.tower_b.conv1.weight.device == torch.device(devices[1])
    x = torch.randn(4, 3, 28, 28)
    logits = split(x.to(devices[0]))
    assert logits.device == torch.device(devices[0])
    _close(logits.cpu(), grouped(x).detach())

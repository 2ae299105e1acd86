"""Atomic writes, evaluation counts and the LR schedule."""

import pytest
import torch
from torch import nn

from repro.train.atomic import write_atomic, write_json_atomic
from repro.train.evaluate import evaluate
from repro.train.optim import OptimConfig, build_optimizer, build_scheduler


def test_failed_atomic_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"a": 1})

    def explode(f):
        f.write(b'{"half": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, explode)
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_evaluate_counts_misses_as_integers():
    model = nn.Identity()
    out = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0], [1.0, 0.0], [0.0, 1.0], [9.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 0])
    res = evaluate(model, out, labels, nn.functional.cross_entropy, batch_size=3)
    assert res.misses == 2 and res.n == 7
    assert res.error == pytest.approx(100 * 2 / 7)
    assert res.loss == pytest.approx(nn.functional.cross_entropy(out, labels).item())
    assert res.line("test") == f"eval: split test . loss {res.loss:e}. error 28.57%. misses: 2"


def test_linear_schedule_goes_from_lr_to_lr_final():
    p = [nn.Parameter(torch.zeros(1))]
    cfg = OptimConfig(name="adamw", lr=3e-4, schedule="linear", lr_final=1e-4)
    opt = build_optimizer(p, cfg)
    sched = build_scheduler(opt, cfg, epochs=5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([3e-4, 2.5e-4, 2e-4, 1.5e-4, 1e-4])
    assert build_scheduler(opt, OptimConfig(), 5) is None

"""Data parallelism: the sharding of global batches, and DDP's gradients from
two gloo processes against one process on the combined batch.
(A whole run under torchrun: tests/alexnet2012/test_torchrun.py.)"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from repro.train.distributed import World, shard_order

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", **extra}
    env.pop("REPRO_OUTPUTS", None)
    return env


def test_shard_order_splits_every_global_batch_and_drops_a_partial_one():
    order = torch.arange(10, 30)  # 20 examples, global batch 8: two full batches, 4 left over
    a, bs_a = shard_order(order, 8, World(0, 2))
    b, bs_b = shard_order(order, 8, World(1, 2))
    assert bs_a == bs_b == 4
    assert a.tolist() == [10, 11, 12, 13, 18, 19, 20, 21]
    assert b.tolist() == [14, 15, 16, 17, 22, 23, 24, 25]
    assert shard_order(order, 8, World())[0] is order  # one process: untouched, nothing dropped
    with pytest.raises(ValueError, match="divide evenly"):
        shard_order(order, 9, World(0, 2))


def _load_worker():
    spec = importlib.util.spec_from_file_location("ddp_grads_worker", HERE / "ddp_grads_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ddp_with_two_gloo_processes_gives_the_combined_batch_gradient(tmp_path):
    out = tmp_path / "grads.pt"
    done = subprocess.run([*TORCHRUN, str(HERE / "ddp_grads_worker.py"), str(out)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = torch.load(out, weights_only=True)
    worker = _load_worker()
    x, y, order = worker.global_batch()
    model = worker.small_model()
    F.cross_entropy(model(x[order]), y[order]).backward()
    assert ddp.keys() == dict(model.named_parameters()).keys()
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp[name], p.grad, rtol=1e-10, atol=1e-14, msg=name)
        assert p.grad.abs().sum() > 0


def _two_rank_checkpoint(tmp_path):
    """A checkpoint as a 2-process run leaves it: each rank's own RNG state (rng_per_rank)."""
    from types import SimpleNamespace

    from repro.train.checkpoint import save_checkpoint
    from repro.train.record import RunDir

    with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
    task = SimpleNamespace(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), scheduler=None)
    run = RunDir(tmp_path)
    save_checkpoint(run, task, SimpleNamespace(epoch=1, step=5), {"seed": 0}, World(0, 1))
    ckpt = torch.load(run.checkpoint, weights_only=True)
    ranks = [{"rng": torch.Generator().manual_seed(100 + r).get_state(), "cuda_rng": None} for r in range(2)]
    torch.save({**ckpt, "rng_per_rank": ranks, "world_size": 2, **ranks[0]}, run.checkpoint)
    return run, task, ranks


@pytest.mark.parametrize("rank", [0, 1])
def test_each_rank_resumes_its_own_rng_stream(tmp_path, rank):
    from repro.train.checkpoint import load_checkpoint

    run, task, ranks = _two_rank_checkpoint(tmp_path)
    saved = torch.get_rng_state()
    try:
        torch.manual_seed(12345)  # whatever the process drew before resuming
        state = load_checkpoint(run, task, {"seed": 0}, World(rank, 2))
        assert state == {"epoch": 1, "step": 5}
        assert torch.equal(torch.get_rng_state(), ranks[rank]["rng"]), (
            f"rank {rank} resumed with {'rank 0' if rank else 'another rank'}'s RNG stream, not its own")
    finally:
        torch.set_rng_state(saved)


@pytest.mark.parametrize("size", [1, 4])
def test_resuming_with_another_number_of_processes_is_refused(tmp_path, size):
    from repro.train.checkpoint import ResumeError, load_checkpoint

    run, task, _ = _two_rank_checkpoint(tmp_path)
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    with pytest.raises(ResumeError, match=rf"trained by 2 process\(es\), this launch has {size}; relaunch with the same number"):
        load_checkpoint(run, task, {"seed": 0}, World(0, size))
    assert all(torch.equal(before[k], v) for k, v in task.model.state_dict().items())  # nothing loaded

"""Run under torchrun by test_distributed.py: one DDP step of a small AlexNet
on this rank's slice of a global batch; rank 0 saves the averaged gradients."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from alexnet2012.model import AlexNetConfig, build_model
from repro.train.distributed import init_world, shard_order


def small_model():
    cfg = AlexNetConfig(input_size=24, conv1_kernel=5, conv1_stride=1, conv1_padding=2, channels=(8, 16, 24, 24, 16),
                        fc_width=32, num_classes=5, dropout=0.0, init="torch_default")
    return build_model(cfg, seed=3).double()


def global_batch(n=16):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, 3, 24, 24, generator=g, dtype=torch.float64) * 50
    y = torch.randint(0, 5, (n,), generator=g)
    order = torch.randperm(n, generator=g)
    return x, y, order


if __name__ == "__main__":
    world = init_world("gloo")
    x, y, order = global_batch()
    mine, per_rank = shard_order(order, len(order), world)
    assert per_rank * world.size == len(order)
    model = small_model()
    ddp = DistributedDataParallel(model)
    F.cross_entropy(ddp(x[mine]), y[mine]).backward()
    if world.is_main:
        torch.save({name: p.grad for name, p in model.named_parameters()}, sys.argv[1])
    # Tear down together: a gloo group destroyed while its peer is still busy (rank 0
    # saving) can abort the process ("terminate called without an active exception").
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()

"""Data-parallel training across processes (torch.distributed), era-agnostic.

A run launched by `torchrun --nproc_per_node K` has K processes. Each takes
its slice of every global batch (so K processes on batch B see exactly the
examples one process sees on batch B, and DDP's averaged gradient equals the
single-process gradient of the combined batch); rank 0 alone writes the run
record. Outside torchrun everything here is a no-op for a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_world(backend: str = "auto") -> World:
    """Join the process group torchrun set up (env:// rendezvous), once.
    ``backend``: gloo, nccl, or auto (nccl when CUDA is available, else gloo)."""
    if dist.is_available() and dist.is_initialized():
        return current_world()
    if not launched_by_torchrun():
        return World()
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        # NCCL needs each process bound to its own GPU before the first collective.
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    return current_world()


def current_world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(rank=dist.get_rank(), size=dist.get_world_size())
    return World()


def local_device(device: str) -> str:
    """``cuda`` under torchrun means this process's own GPU (LOCAL_RANK)."""
    if device == "cuda" and launched_by_torchrun():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return device


def shard_order(order: torch.Tensor, batch_size: int, world: World) -> tuple[torch.Tensor, int]:
    """This rank's examples of each global batch of ``order``, and the per-rank batch size.

    Global batch b is ``order[b*B:(b+1)*B]``; rank r takes its r-th contiguous
    slice of B/K examples. Under more than one process a final partial batch is
    dropped (n mod B examples; another set each pass when the order reshuffles):
    every rank then runs the same number of equal steps, and DDP's mean of the
    per-rank mean gradients is exactly the mean gradient of the global batch."""
    if not world.distributed:
        return order, batch_size
    if batch_size % world.size:
        raise ValueError(f"trainer.batch_size={batch_size} must divide evenly over {world.size} processes")
    per_rank = batch_size // world.size
    full = order.numel() // batch_size * batch_size
    mine = order[:full].view(-1, world.size, per_rank)[:, world.rank]
    return mine.reshape(-1), per_rank


def all_reduce_sum(values: list[float], device: str | torch.device = "cpu") -> list[float]:
    """Sum a few numbers over all ranks (float64, so integer counts stay exact)."""
    world = current_world()
    if not world.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (a list of one outside torchrun)."""
    world = current_world()
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    world = current_world()
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if current_world().distributed:
        dist.barrier()


def leave_world() -> None:
    """Leave the process group together once a run is done: a barrier, then an
    explicit destroy. Left to interpreter exit, gloo's threads can be torn down
    while a peer still talks to them (seen: "terminate called without an active
    exception" on rank 1 while rank 0 was still saving)."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()

"""checkpoint.pt: everything needed to continue a run exactly, and the checks made before continuing.

A checkpoint holds the model, optimizer and scheduler state, every process's
RNG state, the position inside the pass and the running sums; with the sample
order a pure function of (seed, pass), a resumed run continues bit-exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .atomic import save_torch_atomic
from .distributed import World, gather_objects
from .record import RunDir

CHECKPOINT_FORMAT = 1
# Keys that may differ between the interrupted run and its resumption: what is
# shown or logged, not what is trained (a whole group: every key under it).
RESUME_IGNORED = frozenset({"resume", "trainer.progress", "trainer.eval_threads", "logger"})


# Keys added to the configs after runs were recorded, with the value their absence
# meant: a run interrupted before a key existed resumes under the new code.
ADDED_KEYS = {"data.val_size": 0, "data.val_seed": 0,
              # lecun1989's augment_distort and both eras' trainer.average (swa), 2026-12
              "augment.rotate": 0.0, "augment.scale": 0.0, "augment.shear": 0.0, "augment.elastic_alpha": 0.0,
              "augment.elastic_sigma": 2.0, "trainer.average": "none", "trainer.average_start": 0.75,
              "trainer.eval_threads": 0,
              # data.evaluate_test=false: a validation search that never evaluates the test digits (issue 21)
              "data.evaluate_test": True,
              # alexnet2012's augment.pad (pad-and-crop augmentation, He et al. 2016; issue 42)
              "augment.pad": 0,
              # lecun1989, issue 43: mnist16's draw order (records before it drew train first: not his
              # digits), the unused MNIST training digits as validation, Karpathy's own initial weights
              "data.draw_order": "train_first", "data.unused_val": 0, "model.init_draw": "seed"}


def with_added_keys(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``flat`` (dotted keys) with every absent ADDED_KEYS key at its old meaning."""
    return {**ADDED_KEYS, **flat} if any(k.startswith("data.") for k in flat) else dict(flat)


def resume_ignored(dotted: str) -> bool:
    """True for a key in RESUME_IGNORED or under one of its groups (logger.every_steps)."""
    return any(dotted == k or dotted.startswith(k + ".") for k in RESUME_IGNORED)


class ResumeError(RuntimeError):
    """A run directory cannot be (re)used as asked: finished, locked, or its checkpoint does not fit."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values; an empty mapping is a leaf (a trick selected without parameters counts)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    a, b = with_added_keys(flatten(saved)), with_added_keys(flatten(current))
    keys = sorted(k for k in set(a) | set(b) if not resume_ignored(k))
    return [f"{k}: checkpoint {a.get(k, '<absent>')!r} vs now {b.get(k, '<absent>')!r}" for k in keys if a.get(k) != b.get(k)]


def _rng_states() -> dict[str, Any]:
    return {
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def save_checkpoint(run: RunDir, task, state, config: Mapping[str, Any], world: World) -> None:
    """``state`` is the loop's progress (a dataclass). Every rank's RNG (dropout,
    augmentation draws) is saved, so a resumed data-parallel run continues each
    process's stream; the rest is identical on all ranks."""
    rngs = gather_objects(_rng_states())
    if not world.is_main:
        return
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "model": task.model.state_dict(),
        "optimizer": task.optimizer.state_dict(),
        "scheduler": task.scheduler.state_dict() if task.scheduler is not None else None,
        **rngs[0],
        "rng_per_rank": rngs if world.distributed else None,
        "world_size": world.size,
        "state": state.__dict__.copy(),
        "config": dict(config),
    }
    save_torch_atomic(run.checkpoint, ckpt)


def _unreadable(run: RunDir) -> ResumeError:
    """One line for a checkpoint.pt torch cannot read weights-only. Never torch's own text:
    it advises weights_only=False, which runs whatever pickled code the file holds."""
    try:
        size = run.checkpoint.stat().st_size
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    else:
        reason = "empty (0 bytes)" if size == 0 else f"{size:,} bytes that are not a checkpoint this code wrote"
    return ResumeError(f"cannot resume {run.path}: its checkpoint {run.checkpoint} is unreadable ({reason}); "
                       "to start over, choose another hydra.run.dir / hydra.sweep.dir, or delete "
                       f"{run.checkpoint} and rerun with resume=true to train this run from its first pass")


def load_checkpoint(run: RunDir, task, config: Mapping[str, Any], world: World) -> dict[str, Any]:
    """Restore the task's model, optimizer, scheduler and this rank's RNG;
    return the saved loop state (a dict)."""
    try:
        # Tensors, numbers, strings and containers only: loading never runs pickled code.
        ckpt = torch.load(run.checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem for the user
        raise _unreadable(run) from exc
    if not isinstance(ckpt, Mapping):
        raise _unreadable(run)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ResumeError(f"{run.checkpoint}: checkpoint format {ckpt.get('format')} is not {CHECKPOINT_FORMAT}")
    diffs = config_differences(ckpt["config"], config)
    if diffs:
        raise ResumeError(
            f"cannot resume {run.path}: the config differs from the checkpoint's:\n  " + "\n  ".join(diffs)
        )
    saved_world = ckpt.get("world_size", 1)
    if saved_world != world.size:
        raise ResumeError(
            f"cannot resume {run.path}: it was trained by {saved_world} process(es), this launch has {world.size}; "
            "relaunch with the same number (torchrun --nproc_per_node) so data order and RNG streams continue exactly"
        )
    task.model.load_state_dict(ckpt["model"])
    task.optimizer.load_state_dict(ckpt["optimizer"])
    if task.scheduler is not None and ckpt["scheduler"] is not None:
        task.scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt["rng_per_rank"][world.rank] if ckpt.get("rng_per_rank") else ckpt
    torch.set_rng_state(rng["rng"])
    if rng["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda_rng"])
    return ckpt["state"]

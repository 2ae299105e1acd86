"""One AlexNet run from a resolved config: data, network, training, record."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from repro.train.distributed import init_world, local_device
from repro.train.run import execute

from .data import load_image_data
from .recipe import build_task, recipe_from_config

log = logging.getLogger("alexnet2012")


def run(config: Mapping[str, Any], run_dir: Path, on_step=()) -> dict[str, Any]:
    """``config`` is the plain (resolved) dict of conf/alexnet2012.yaml."""
    recipe = recipe_from_config(config)
    world = init_world(recipe.parallel.ddp_backend)
    # Under torchrun, trainer.device=cuda means each process's own GPU.
    recipe = dataclasses.replace(recipe, trainer=dataclasses.replace(recipe.trainer, device=local_device(recipe.trainer.device)))
    seed = int(config["seed"])
    if recipe.trainer.threads:
        torch.set_num_threads(recipe.trainer.threads)

    def build():
        data = load_image_data(recipe.data)
        log.info(f"data: {data.summary()}")
        built = build_task(recipe, data, seed)
        counts = built.model.counts()
        label = recipe.model.name if recipe.model.arch == "cuda-convnet" else f"AlexNet ({recipe.model.variant})"
        log.info(f"{label}: {counts['total']:,} parameters")
        meta = {
            "era": "alexnet2012",
            "name": config.get("name", "run"),
            "table": config.get("table"),
            "data": data.name,
            "n_train": len(data.train_indices),
            "n_test": len(data.val_indices),
            "num_classes": data.num_classes,
            "counts": counts,
            "parallel": {"mode": recipe.parallel.mode, "processes": world.size},
            "recipe": dataclasses.asdict(recipe),
        }
        return built.task, meta

    return execute(
        run_dir, config, recipe.trainer, build, seed=seed, resume=bool(config.get("resume", False)), on_step=on_step
    )

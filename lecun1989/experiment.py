"""One 1989 run from a resolved config: data, model, training, record."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from repro.train.run import execute

from .model import describe_counts
from .recipe import build_task, load_data, recipe_from_config

log = logging.getLogger("lecun1989")


def run(config: Mapping[str, Any], run_dir: Path, on_step=()) -> dict[str, Any]:
    """``config`` is the plain (resolved) dict of conf/lecun1989.yaml."""
    recipe, tricks = recipe_from_config(config)
    seed = int(config["seed"])
    if recipe.trainer.threads:
        torch.set_num_threads(recipe.trainer.threads)

    def build():
        digits = load_data(recipe.data)
        log.info(f"data: {digits.summary()}")
        task, model, backend = build_task(recipe, digits, seed)
        log.info("model counts:\n" + describe_counts(model))
        if tricks:
            log.info("tricks (in the order applied): " + ", ".join(t.name for t in tricks))
        meta = {
            "era": "lecun1989",
            "name": config.get("name", "run"),
            "table": config.get("table"),
            "data": digits.name,
            "n_train": len(digits.y_train),
            "n_test": len(digits.y_test),
            "counts": model.counts(),
            "backend": backend,
            "tricks": [{"name": t.name, "params": dataclasses.asdict(t.params), "changed": list(t.changed)} for t in tricks],
            # The recipe actually trained, after every trick: what the tables describe.
            "recipe": dataclasses.asdict(recipe),
        }
        return task, meta

    return execute(run_dir, config, recipe.trainer, build, seed=seed, resume=bool(config.get("resume", False)), on_step=on_step)

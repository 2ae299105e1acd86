"""What LeCun et al. 1989 did, as one typed recipe built from the Hydra config.

The recipe says *what* is trained; `repro.train.fit` says *how*. Modern tricks
(issue: modern_tricks/) are functions Recipe -> Recipe applied before
`build_task`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from repro.config import parse
from repro.data import DigitSplits, load_digits, resolve_data_root
from repro.data.config import DataConfig
from repro.train.loop import TrainerConfig, TrainTask
from repro.train.optim import OptimConfig, build_optimizer, build_scheduler

from .fused import fused_steps
from .loss import mse_pm1
from .model import ModelConfig, Net1989, build_model

LOSSES = {"mse": mse_pm1}


@dataclass(frozen=True)
class Recipe:
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
    loss: Literal["mse"] = "mse"


def recipe_from_config(cfg: Mapping[str, Any]) -> Recipe:
    return Recipe(
        data=parse(DataConfig, cfg["data"], "data"),
        model=parse(ModelConfig, cfg["model"], "model"),
        optim=parse(OptimConfig, cfg["optim"], "optim"),
        trainer=parse(TrainerConfig, cfg["trainer"], "trainer"),
        loss=cfg.get("loss", "mse"),
    )


def load_data(data: DataConfig) -> DigitSplits:
    root = resolve_data_root(data.root)
    options = {}
    if data.name == "mnist16":
        options = {"n_train": data.n_train, "n_test": data.n_test, "seed": data.subset_seed}
    return load_digits(data.name, root, download=data.download, verify=data.verify, **options)


def build_task(recipe: Recipe, digits: DigitSplits, seed: int) -> tuple[TrainTask, Net1989]:
    if recipe.loss not in LOSSES:
        raise ValueError(f"unknown loss {recipe.loss!r}; choose one of {sorted(LOSSES)}")
    model = build_model(recipe.model, seed).to(torch.device(recipe.trainer.device))
    optimizer = build_optimizer(model.parameters(), recipe.optim)
    task = TrainTask(
        model=model,
        optimizer=optimizer,
        loss_fn=LOSSES[recipe.loss],
        train_x=digits.x_train,
        train_y=digits.y_train,
        eval_sets={"train": (digits.x_train, digits.y_train), "test": (digits.x_test, digits.y_test)},
        scheduler=build_scheduler(optimizer, recipe.optim, recipe.trainer.epochs),
        fused_steps=fused_steps(recipe.trainer.backend, model, optimizer, recipe.loss, recipe.trainer.batch_size),
    )
    return task, model

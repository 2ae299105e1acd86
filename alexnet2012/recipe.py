"""What Krizhevsky, Sutskever & Hinton 2012 did, as one typed recipe from the Hydra config.

The recipe says *what* is trained (data, network, augmentation, optimizer,
schedule, parallelism); `repro.train.fit` says *how*. `build_task` turns it
into the shared loop's TrainTask: a streamed BatchSource of uint8 images, the
paper's augmentation on the training device, 1-crop evaluation each pass and
10-crop testing after the last.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from modern_tricks import apply_tricks
from repro.config import ConfigError, parse
from repro.train.distributed import launched_by_torchrun, local_device
from repro.train import task as shared
from repro.train.task import BatchSource, TrainTask
from repro.train.optim import OptimConfig, build_optimizer, build_scheduler, plateau_metric

from .augment import AugmentConfig, train_batch
from .convnet.model import ConvNetConfig, build_convnet, param_groups
from .cpu_memory import keep_freed_cpu_memory
from .data import ImageData, ImageDataConfig
from .evaluation import make_evaluator
from .loader import SkipLog, batches
from .model import AlexNet, AlexNetConfig, build_loss, build_model
from .towers import TowerParallelAlexNet, check_splittable


@dataclass(frozen=True)
class TrainerConfig(shared.TrainerConfig):
    """The shared trainer's knobs plus the 2012 era's speed switches (tricks
    channels_last and torch_compile): the same arithmetic up to rounding."""

    # The model's 4-D weights and every 4-D training batch in NHWC memory order.
    channels_last: bool = False
    # The training forward through torch.compile (evaluation and checkpoints use
    # the plain module, so records do not depend on it).
    compile: bool = False


@dataclass(frozen=True)
class ParallelConfig:
    # "none": the whole net on trainer.device. "towers": the paper's model
    # parallelism, tower A on tower_devices[0] and tower B on tower_devices[1],
    # exchanging activations only at conv3, fc6 and fc7 (section 3.2).
    # "ddp": data parallelism, one process per device, launched by torchrun
    # (`torchrun --nproc_per_node K -m alexnet2012.cli parallel.mode=ddp`).
    mode: Literal["none", "towers", "ddp"] = "none"
    tower_devices: tuple[str, ...] = ("cuda:0", "cuda:1")
    ddp_backend: Literal["auto", "gloo", "nccl"] = "auto"  # under torchrun: nccl on CUDA, else gloo

    def validate(self) -> None:
        if len(self.tower_devices) != 2:
            raise ValueError(f"tower_devices must name two devices, got {list(self.tower_devices)}")
        for i, device in enumerate(self.tower_devices):
            shared.check_device_name(device, f"tower_devices[{i}]")


@dataclass(frozen=True)
class EvalConfig:
    # Paper: 10-crop predictions for the reported numbers; we log the centre
    # crop every pass (cheap, and what the plateau schedule watches) and run
    # the ten crops after the last pass ("never" to skip them).
    ten_crop: Literal["last", "never"] = "last"
    batch_size: int = 256
    # > 0: also evaluate the centre crop of the first N training images (in the
    # stored order, no augmentation) after every pass: the "train_error" column
    # that Figure 1 of the paper plots. 0: no training-set evaluation.
    train_subset: int = 0

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.train_subset < 0:
            raise ValueError("train_subset must be >= 0")


@dataclass(frozen=True)
class Recipe:
    data: ImageDataConfig
    model: AlexNetConfig | ConvNetConfig  # the paper's network, or a cuda-convnet layer list (model.arch)
    optim: OptimConfig
    trainer: TrainerConfig
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tricks: tuple[str, ...] = ()  # the trick2012 selection, in the order applied (modern_tricks/cifar2012.py)

    def check(self) -> None:
        under_torchrun = launched_by_torchrun()
        if self.parallel.mode == "ddp" and not under_torchrun:
            raise ConfigError(
                "parallel.mode=ddp runs one process per device: launch with "
                "`torchrun --nproc_per_node K -m alexnet2012.cli parallel.mode=ddp ...`"
            )
        if under_torchrun and self.parallel.mode != "ddp":
            raise ConfigError(
                f"launched by torchrun with {os.environ['WORLD_SIZE']} processes but parallel.mode={self.parallel.mode}; "
                "set parallel.mode=ddp (or run without torchrun)"
            )
        # The splits evaluated every pass; `val` (and its ten-crop `val10`) plays the paper's test set.
        shared.check_stop_split(self.trainer, {"train": "" if self.eval.train_subset else "eval.train_subset > 0",
                                               "holdout": "" if self.data.val_size else "data.val_size > 0"},
                                test_splits=("val", "val10"))
        if self.augment.crop != self.model.input_size:
            raise ConfigError(
                f"augment.crop={self.augment.crop} must equal model.input_size={self.model.input_size} "
                "(the network sees the crops)"
            )
        if self.augment.crop > self.data.image_size:
            raise ConfigError(f"augment.crop={self.augment.crop} is larger than data.image_size={self.data.image_size}")
        if self.parallel.mode == "towers" and isinstance(self.model, ConvNetConfig):
            raise ConfigError("parallel.mode=towers splits AlexNet's two towers; a cuda-convnet net has none")
        if self.parallel.mode == "towers":
            try:
                check_splittable(self.model)
            except ValueError as exc:
                raise ConfigError(f"parallel.mode=towers: {exc}") from exc
            if self.trainer.device != self.parallel.tower_devices[0]:
                raise ConfigError(
                    f"parallel.mode=towers feeds the input on tower_devices[0]={self.parallel.tower_devices[0]}; "
                    f"set trainer.device to it (now {self.trainer.device})"
                )


def recipe_from_config(cfg: Mapping[str, Any]) -> Recipe:
    recipe = Recipe(
        data=parse(ImageDataConfig, cfg["data"], "data"),
        model=parse(ConvNetConfig if (cfg["model"] or {}).get("arch") == "cuda-convnet" else AlexNetConfig,
                    cfg["model"], "model"),
        optim=parse(OptimConfig, cfg["optim"], "optim"),
        trainer=parse(TrainerConfig, cfg["trainer"], "trainer"),
        augment=parse(AugmentConfig, cfg.get("augment") or {}, "augment"),
        parallel=parse(ParallelConfig, cfg.get("parallel") or {}, "parallel"),
        eval=parse(EvalConfig, cfg.get("eval") or {}, "eval"),
    )
    recipe, applied = apply_tricks(recipe, cfg.get("trick2012") or {}, era="alexnet2012")
    recipe = replace(recipe, tricks=tuple(a.name for a in applied))
    cap = recipe.trainer.max_epochs
    if cap and recipe.trainer.epochs > cap:
        recipe = replace(recipe, trainer=replace(recipe.trainer, epochs=cap))
    recipe.check()
    return recipe


# The trainer's default device is cuda (conf/alexnet2012/trainer/alexnet2012.yaml): say how to run without one.
CPU_HINT = ("run on the CPU with trainer.device=cpu (alexnet2012's default device is cuda: add "
            "trainer.device=cpu to the command, or run `alexnet2012 experiment=alexnet_cifar10`, "
            "AlexNet on CIFAR-10 sized for a CPU)")


def check_devices(recipe: Recipe) -> None:
    """ConfigError unless this machine has the devices the recipe trains on,
    before any process joins a group or reads data. Under torchrun, cuda is
    this process's own GPU (`local_device`), as the run will use it."""
    shared.require_device(local_device(recipe.trainer.device), cpu_hint=CPU_HINT)
    if recipe.parallel.mode == "towers":
        for i, device in enumerate(recipe.parallel.tower_devices):
            shared.require_device(device, f"parallel.tower_devices[{i}]", cpu_hint=CPU_HINT)


@dataclass
class Built:
    task: TrainTask
    model: AlexNet  # the grouped model (the tower split shares no tensors with it; see finish)
    trained: torch.nn.Module  # what the loop trains: the model, or its tower split
    skipped: SkipLog


def build_task(recipe: Recipe, data: ImageData, seed: int) -> Built:
    if recipe.model.num_classes != data.num_classes:
        raise ConfigError(f"model.num_classes={recipe.model.num_classes} but {data.name} has {data.num_classes} classes")
    device = recipe.trainer.device
    if torch.device(device).type == "cpu":
        keep_freed_cpu_memory()  # each step's freed tensors reused, not page-faulted in again (cpu_memory.py)
    if isinstance(recipe.model, ConvNetConfig):
        model = build_convnet(recipe.model, seed)
    else:
        model = build_model(recipe.model, seed)
    if recipe.parallel.mode == "towers":
        trained: torch.nn.Module = TowerParallelAlexNet.from_model(model, tuple(recipe.parallel.tower_devices))
    else:
        trained = model.to(device)
    if recipe.trainer.channels_last:
        trained.to(memory_format=torch.channels_last)
    # cuda-convnet nets carry per-layer rates (optim.lr scales them all); AlexNet uses optim's for every layer,
    # named so that optim.decay=weights (conf/alexnet2012/optim/alexnet2012*.yaml) leaves the biases undecayed.
    params = (param_groups(trained, recipe.optim.lr) if isinstance(recipe.model, ConvNetConfig)
              else trained.named_parameters())
    optimizer = build_optimizer(params, recipe.optim)
    loss_fn = build_loss(recipe.model)
    stats = replace(data.stats, mean=data.stats.mean.to(device))
    skipped = SkipLog()
    pin = recipe.data.pin_memory and torch.device(device).type == "cuda"
    workers = recipe.data.workers

    def stream(indices: torch.Tensor, batch_size: int):
        picked = data.train_indices[indices]
        return batches(data.train, picked, batch_size, workers=workers, pin_memory=pin, skipped=skipped)

    def augment(x: torch.Tensor) -> torch.Tensor:
        # A fresh generator per batch, seeded from the global RNG the checkpoint
        # saves: crops, flips and lighting continue exactly on resume.
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
        x = train_batch(x, stats, recipe.augment, generator)
        return x.contiguous(memory_format=torch.channels_last) if recipe.trainer.channels_last else x

    def evaluator(crops, dataset=data.val, indices=data.val_indices):
        return make_evaluator(
            dataset, indices, stats, recipe.augment, loss_fn, crops=crops,
            batch_size=recipe.eval.batch_size, device=device, workers=workers, pin_memory=pin,
        )

    # data.evaluate_test=false (a search on the validation split): the test images are never evaluated.
    eval_sets = {"val": evaluator("center")} if recipe.data.evaluate_test else {}
    if recipe.eval.train_subset:
        eval_sets["train"] = evaluator("center", data.train, data.train_indices[: recipe.eval.train_subset])

    task = TrainTask(
        model=trained,
        optimizer=optimizer,
        loss_fn=loss_fn,
        train=BatchSource(n=len(data.train_indices), batches=stream),
        eval_sets=eval_sets,
        final_eval_sets={"val10": evaluator("ten")} if recipe.eval.ten_crop == "last" and recipe.data.evaluate_test else {},
        scheduler=build_scheduler(optimizer, recipe.optim, recipe.trainer.epochs),
        scheduler_metric=plateau_metric(recipe.optim),
        batch_transform=augment,
        progress_unit="img",
        counters=lambda: {"skipped_images": skipped.count},
        wrap_train_model=torch.compile if recipe.trainer.compile else None,
        finish=lambda path: _save_weights(path, trained),
    )
    return Built(task=task, model=model, trained=trained, skipped=skipped)


def _save_weights(path: Path, trained: torch.nn.Module) -> dict[str, Any]:
    """model.pt: the grouped network's state dict (also for a tower split), for reports and reuse."""
    from repro.train.atomic import save_torch_atomic

    state = trained.grouped_state_dict() if isinstance(trained, TowerParallelAlexNet) else trained.state_dict()
    save_torch_atomic(Path(path) / "model.pt", {k: v.detach().cpu() for k, v in state.items()})
    return {"artifacts": ["model.pt"]}

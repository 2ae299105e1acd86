"""The `alexnet2012` command: one AlexNet (or cuda-convnet) run from conf/alexnet2012/alexnet2012.yaml.

config -> recipe (the paper's, with any 2012-era tricks applied; recipe.py)
       -> image data, network and task (recipe.build_task) -> the shared loop (repro.train.fit)
       -> run record (config.yaml, history.csv, checkpoint.pt, metrics.json, model.pt)

Data parallelism: `torchrun --nproc_per_node K -m alexnet2012.cli parallel.mode=ddp ...` starts
K copies of this app; they join one process group, agree on rank 0's run
directory, and train on slices of every global batch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Large CPU tensors (>= 2 MiB) on transparent huge pages: PyTorch reads THP_MEM_ALLOC_ENABLE at the process's
# first tensor allocation (so here, before any). A CPU training step allocates its activations and gradients
# afresh, and each 4 KiB page of a fresh buffer is a page fault: about as dear as the pass that fills it
# (an AlexNet step on 2 cores: ~1.2-2x faster with huge pages). Memory order and values are untouched;
# THP_MEM_ALLOC_ENABLE=0 in the environment turns it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from repro.startup import quiet_start  # noqa: E402

with quiet_start(__file__, "alexnet2012"):  # Ctrl-C while torch loads: one line, exit 130 (repro/startup.py)
    import torch  # noqa: E402

    from repro.app import conf_dir, hydra_command, sweep_objective, with_holdout
    from repro.config import parse_seed
    from repro.train.distributed import broadcast_object, init_world, leave_world, local_device
    from repro.train.loop import fit
    from repro.train.run import claim_run

    from .data import load_image_data
    from .evaluation import make_evaluator
    from .recipe import build_task, check_devices, recipe_from_config

    # The trick groups (trick, trick2012) are declared in Python (modern_tricks):
    # Hydra finds them only once registered, which must happen before it composes.
    from modern_tricks import GROUP_BY_ERA, register_configs  # noqa: E402

register_configs("alexnet2012")  # this era's group only: --help lists this app's groups

CONF_DIR = conf_dir("alexnet2012")  # this app's config tree (tests compose the same one)

log = logging.getLogger("alexnet2012")


def run(config: Mapping[str, Any], run_dir: Path, on_step=()) -> dict[str, Any]:
    """``config`` is the plain (resolved) dict of conf/alexnet2012/alexnet2012.yaml."""
    recipe = recipe_from_config(config)  # config mistakes stop every process before any joins the group
    seed = parse_seed(config["seed"])
    check_devices(recipe)  # a missing GPU is named before any data is read
    world = init_world(recipe.parallel.ddp_backend)
    run_dir = _shared_run_dir(Path(run_dir), world)
    # Under torchrun, trainer.device=cuda means each process's own GPU.
    recipe = dataclasses.replace(recipe, trainer=dataclasses.replace(recipe.trainer, device=local_device(recipe.trainer.device)))
    if recipe.trainer.threads:
        torch.set_num_threads(recipe.trainer.threads)
    resume = bool(config.get("resume", False))
    with claim_run(run_dir, config, resume=resume) as claimed:
        if claimed.finished is not None:
            return claimed.finished
        data = load_image_data(recipe.data)
        log.info(f"data: {data.summary()}")
        built = build_task(recipe, data, seed)
        if len(data.holdout_indices):
            built.task.eval_sets = with_holdout(built.task.eval_sets, holdout_eval(recipe, data, built))
        counts = built.model.counts()
        label = recipe.model.name if recipe.model.arch == "cuda-convnet" else f"AlexNet ({recipe.model.variant})"
        log.info(f"{label}: {counts['total']:,} parameters")
        meta = {
            "era": "alexnet2012",
            "name": config.get("name", "run"),
            "table": config.get("table"),
            "data": data.name,
            "n_train": len(data.train_indices),
            "n_test": len(data.val_indices) if recipe.data.evaluate_test else 0,  # 0: never evaluated
            "n_holdout": len(data.holdout_indices),  # data.val_size: training images held out for validation
            "num_classes": data.num_classes,
            "counts": counts,
            "parallel": {"mode": recipe.parallel.mode, "processes": world.size},
            "recipe": dataclasses.asdict(recipe),
        }
        metrics = fit(built.task, recipe.trainer, claimed.run, seed=seed, config=config, resume=resume, meta=meta,
                      log=log.info, on_step=on_step)
    if world.distributed:
        leave_world()  # every rank has finished (rank 0 has written the record): leave together
    return metrics


def _shared_run_dir(own: Path, world) -> Path:
    """Under torchrun: rank 0's run directory for every process. Hydra made one
    per process (its timestamps differ by microseconds); the others' dirs hold
    nothing but Hydra's own files and are removed."""
    if not world.distributed:
        return own
    shared = Path(broadcast_object(str(own)))
    if not world.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one log: rank 0's
        if own.resolve() != shared.resolve() and all(p.name in (".hydra", "cli.log") for p in own.iterdir()):
            shutil.rmtree(own, ignore_errors=True)
    return shared


def holdout_eval(recipe, data, built):
    """The validation split's evaluation: centre crops of the held-out training
    images, as the `val` split is evaluated every pass (recipe.build_task)."""
    device = recipe.trainer.device
    stats = dataclasses.replace(data.stats, mean=data.stats.mean.to(device))
    pin = recipe.data.pin_memory and torch.device(device).type == "cuda"
    return make_evaluator(data.train, data.holdout_indices, stats, recipe.augment, built.task.loss_fn, crops="center",
                          batch_size=recipe.eval.batch_size, device=device, workers=recipe.data.workers,
                          pin_memory=pin)


# Returned to Hydra sweepers that optimise an objective: the validation error, never the
# error on ILSVRC-2012's `val` set, which plays the paper's test set.
main = hydra_command("alexnet2012", run, foreign_groups={GROUP_BY_ERA["lecun1989"]: "lecun1989"},
                     objective=sweep_objective)

if __name__ == "__main__":
    main()

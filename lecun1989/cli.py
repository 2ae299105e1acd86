"""The `lecun1989` command: one 1989 run from conf/lecun1989/lecun1989.yaml, read top to bottom.

config -> recipe (the paper's, with any modern tricks applied; recipe.py)
       -> data, network and task (recipe.build_task) -> the shared loop (repro.train.fit)
       -> run record (config.yaml, history.csv, checkpoint.pt, metrics.json, model.pt)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro.startup import quiet_start

with quiet_start(__file__, "lecun1989"):  # Ctrl-C while torch loads: one line, exit 130 (repro/startup.py)
    import torch

    from repro.app import conf_dir, hydra_command, sweep_objective, with_holdout
    from repro.config import parse_seed
    from repro.train.loop import fit
    from repro.train.run import claim_run

    from .model import describe_counts
    from .data import load_data
    from .recipe import build_task, check_devices, recipe_from_config

    # The trick groups (trick, trick2012) are declared in Python (modern_tricks):
    # Hydra finds them only once registered, which must happen before it composes.
    from modern_tricks import GROUP_BY_ERA, register_configs  # noqa: E402

register_configs("lecun1989")  # this era's group only: --help lists this app's groups

CONF_DIR = conf_dir("lecun1989")  # this app's config tree (tests compose the same one)

log = logging.getLogger("lecun1989")


def run(config: Mapping[str, Any], run_dir: Path, on_step=()) -> dict[str, Any]:
    """``config`` is the plain (resolved) dict of conf/lecun1989/lecun1989.yaml."""
    recipe, tricks = recipe_from_config(config)
    seed = parse_seed(config["seed"])
    check_devices(recipe)  # a missing GPU is named before any data is read
    if recipe.trainer.threads:
        torch.set_num_threads(recipe.trainer.threads)
    resume = bool(config.get("resume", False))
    with claim_run(run_dir, config, resume=resume) as claimed:
        if claimed.finished is not None:
            return claimed.finished
        digits = load_data(recipe.data)
        log.info(f"data: {digits.summary()}")
        task, model, backend = build_task(recipe, digits, seed)
        if len(digits.y_val):
            task.eval_sets = with_holdout(task.eval_sets, holdout_eval(recipe, backend, model, digits))
        log.info("model counts:\n" + describe_counts(model))
        if tricks:
            log.info("tricks (in the order applied): " + ", ".join(t.name for t in tricks))
        meta = {
            "era": "lecun1989",
            "name": config.get("name", "run"),
            "table": config.get("table"),
            "data": digits.name,
            "n_train": len(digits.y_train),
            "n_test": len(digits.y_test) if recipe.data.evaluate_test else 0,  # 0: never evaluated
            "n_holdout": len(digits.y_val),  # data.val_size: training digits held out for validation
            "counts": model.counts(),
            "backend": backend,
            "tricks": [{"name": t.name, "params": dataclasses.asdict(t.params), "changed": list(t.changed)} for t in tricks],
            # The recipe actually trained, after every trick: what the tables describe.
            "recipe": dataclasses.asdict(recipe),
        }
        return fit(task, recipe.trainer, claimed.run, seed=seed, config=config, resume=resume, meta=meta,
                   log=log.info, on_step=on_step)


def holdout_eval(recipe, backend: str, model, digits):
    """The validation split's evaluation, as the era evaluates its other splits
    (the fused kernel's forward on fused_cpu)."""
    from . import recipe as era

    split = {"holdout": (digits.x_val, digits.y_val)}
    if hasattr(era, "eval_sets"):
        split = era.eval_sets(backend, model, split, recipe.loss_fn(), recipe.trainer.eval_batch_size,
                              recipe.trainer.eval_cores)
    return split["holdout"]


# Returned to Hydra sweepers that optimise an objective: the validation error, never the test error.
main = hydra_command("lecun1989", run, foreign_groups={GROUP_BY_ERA["alexnet2012"]: "alexnet2012"},
                     objective=sweep_objective)

if __name__ == "__main__":
    main()

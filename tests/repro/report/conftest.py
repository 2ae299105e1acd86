"""Sweep folders as the apps leave them: a record per job with its resolved config,
history and finish time (repro.train.record's writers), for the row and report tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from repro.train.record import RunDir, write_diverged, write_history, write_metrics

ENV = {"hardware": "Test CPU (2 cores)", "git": {"commit": "abc1234def5678"}, "torch": "2.14.1"}
CONFIG = {"name": "baseline", "table": None, "seed": 0, "resume": False,
          "data": {"name": "usps", "root": "/data", "download": True, "verify": True},
          "model": {"h1_maps": 12, "activation": "tanh"},
          "optim": {"name": "sgd", "lr": 0.03},
          "trainer": {"epochs": 2, "progress": False, "threads": 1}}


def sweep_job(folder: Path, seed: int, test_error: float, *, train_error: float = 1.0, overrides: dict | None = None,
              finished_at: str = "2026-11-29T10:00:00+00:00", diverged: bool = False, name: str = "baseline",
              table: str | None = None) -> Path:
    """One finished job of a lecun1989 sweep: ``overrides`` are dotted keys ("optim.lr": 0.1)."""
    config = copy.deepcopy(CONFIG)
    config.update(name=name, table=table, seed=seed)
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    n_test, n_train = 2007, 7291
    test_misses, train_misses = round(test_error * n_test / 100), round(train_error * n_train / 100)
    record = {
        "era": "lecun1989", "name": name, "table": table, "data": "usps", "n_train": n_train, "n_test": n_test,
        "seed": seed, "passes": config["trainer"]["epochs"], "config": config, "tricks": [],
        "final": {"train": {"loss": 0.01, "error": train_error, "misses": train_misses},
                  "test": {"loss": 0.05, "error": test_error, "misses": test_misses}},
        "wall_time_s": 10.0, "train_time_s": 8.0, "samples_per_s": 2000.0, "environment": ENV,
        "finished_at": finished_at,
    }
    write_history(RunDir(folder), [
        {"pass": p, "train_error": train_error + 10.0 / p, "test_error": test_error + 10.0 / p}
        for p in range(1, config["trainer"]["epochs"] + 1)])
    if diverged:
        write_diverged(RunDir(folder), record, {"pass": 1, "step": 5, "global_step": 5, "loss": None,
                                                 "cause": "the training loss is nan"})
    else:
        write_metrics(RunDir(folder), record)
    return folder


@pytest.fixture
def lr_sweep(tmp_path) -> Path:
    """`lecun1989 -m optim.lr=0.01,0.1 seed=0,1` as Hydra names its jobs, plus a copied job folder,
    and `optim.lr=1.0` whose one run diverged."""
    sweep = tmp_path / "multirun" / "lecun1989" / "2026-11-29_10-00-00-000000"
    sweep_job(sweep / "0_baseline_seed0", 0, 30.0, train_error=28.0, overrides={"optim.lr": 0.01})
    sweep_job(sweep / "1_baseline_seed1", 1, 34.0, train_error=30.0, overrides={"optim.lr": 0.01})
    sweep_job(sweep / "2_baseline_seed0", 0, 8.0, train_error=3.0, overrides={"optim.lr": 0.1})
    sweep_job(sweep / "3_baseline_seed1", 1, 9.0, train_error=4.0, overrides={"optim.lr": 0.1})
    # A copy of job 2 (same config, same seed): one result, never a second seed.
    sweep_job(sweep / "9_copy_of_2", 0, 8.0, train_error=3.0, overrides={"optim.lr": 0.1})
    sweep_job(sweep / "4_baseline_seed0", 0, 82.0, train_error=82.0, overrides={"optim.lr": 1.0}, diverged=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep

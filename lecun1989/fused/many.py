"""Many fused runs in one process: one run per thread (issue 20, item 3).

    python -m lecun1989.fused.many --threads 2 --sweep-dir results/lecun1989/runs/karpathy_table \
        experiment=karpathy_table seed=0,1,2,3,4

composes every job of the experiment's sweep (its rows x the seeds, numbered and
named as Hydra's multirun names them: `<job#>_<name>_seed<seed>`) and runs them in
one process, `--threads` at a time. Each job is `lecun1989.cli.run` on its own
config, model, optimizer and run directory, so it writes exactly the record a single
run of that config and seed writes (tested); only its timings differ.

Why threads, not SIMD lanes: the C++ steps release the GIL, so runs on separate
threads step truly in parallel, one core each, while a sweep saves a process start
per job (Python, torch and Hydra imports, loading the kernel and the data: seconds,
against the few seconds a fused 23-pass run trains). Lanes would need every run of
a batch to share shapes and schedules; threads take any mix of rows.

Only fused_cpu jobs run here: their draws come from counter_rng (keyed by the run's
seed, pass and step), so runs on parallel threads cannot disturb each other. Eager
jobs draw from torch's global RNG, which threads would share: they are refused, to
be run by the ordinary `lecun1989 -m` sweep.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from repro.config import ConfigError
from repro.train.checkpoint import ResumeError
from repro.train.interrupt import stop_every_run, sweep_interrupted

from ..recipe import runs_sharing_cores

T = TypeVar("T")


def backend_of(config: Mapping[str, Any]) -> str:
    """The backend `trainer.backend` resolves to for this config (auto resolved), without data."""
    from ..model import build_model
    from ..recipe import optimizer_for, recipe_from_config

    from .stepper import resolve_backend

    recipe, _ = recipe_from_config(config)
    model = build_model(recipe.model, 0)
    return resolve_backend(recipe.trainer.backend, model, optimizer_for(recipe, model),
                           recipe.loss, recipe.trainer.batch_size, recipe.trainer.precision)


def run_many(jobs: Sequence[tuple[Mapping[str, Any], Path]], threads: int = 2) -> list[dict[str, Any]]:
    """Run each (config, run directory) job with `lecun1989.cli.run`, ``threads`` at a time in this
    process; returns their metrics in the jobs' order. Every job must resolve to fused_cpu."""
    from ..cli import run

    others = [(str(d), b) for c, d in jobs if (b := backend_of(c)) != "fused_cpu"]
    if others:
        raise ConfigError("many runs per process take fused_cpu jobs only (their draws are the run's own); "
                          f"these resolve to another backend: {others}; run them with `lecun1989 -m`")
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    # The runs share the cores: trainer.eval_threads=0 gives each its share, not all of them
    # (a fact of this process, not of the runs' configs: their records are a single run's).
    # Ctrl-C: every running run saves a checkpoint and stops, the ones not started never start,
    # and the first TrainingInterrupted comes back (resume=true continues the sweep).
    with runs_sharing_cores(threads), stop_every_run(), \
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lecun1989-run") as pool:
        futures = [pool.submit(_unless_stopped, run, config, Path(run_dir)) for config, run_dir in jobs]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _unless_stopped(run, config: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """``run(config, run_dir)``, unless a signal stopped the sweep before this job began: then it
    never starts (no folder, no checkpoint), as a job of an interrupted Hydra sweep."""
    if sweep_interrupted():
        raise KeyboardInterrupt(f"{run_dir}: not started (interrupted)")
    return run(config, run_dir)


def sweep_jobs(overrides: Sequence[str], sweep_dir: Path) -> list[tuple[dict[str, Any], Path]]:
    """The jobs of a `lecun1989 -m <overrides>` sweep: the experiment's row parameter and any
    comma lists on the command line, expanded in Hydra's order (first parameter slowest)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from ..cli import CONF_DIR

    fixed, swept = [], {}
    for o in overrides:
        key, _, value = o.partition("=")
        if "," in value and not value.startswith(("[", "'", '"')):
            swept[key] = value
        else:
            fixed.append(o)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        base = compose("lecun1989", overrides=fixed, return_hydra_config=True)
        params = {**dict(base.hydra.sweeper.params or {}), **swept}  # the experiment's rows first: slowest
        keys = list(params)
        values = [str(params[k]).split(",") for k in keys]
        jobs = []
        for num, combo in enumerate(itertools.product(*values)):
            cfg = compose("lecun1989", overrides=fixed + [f"{k}={v.strip()}" for k, v in zip(keys, combo)])
            config = OmegaConf.to_container(cfg, resolve=True)
            jobs.append((config, sweep_dir / f"{num}_{config.get('name', 'run')}_seed{config['seed']}"))
    return jobs


def reporting_stops(call: Callable[[], T], resume_hint: str) -> tuple[T | None, int | None]:
    """``call()`` for a command's main: (its result, None), or (None, exit code) after one line on
    stderr: `error: ...` (exit 2) for a config or resume mistake, the interruption and ``resume_hint``
    (exit 130) for Ctrl-C."""
    try:
        return call(), None
    except (ConfigError, ResumeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, 2
    except KeyboardInterrupt as exc:
        print(f"{exc}\nstopped: {resume_hint}", file=sys.stderr)
        return None, 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="runs stepping at once, one core each (default 2)")
    parser.add_argument("--sweep-dir", type=Path, required=True, help="the folder of the job directories")
    parser.add_argument("overrides", nargs="*", help="as for `lecun1989 -m` (experiment=..., seed=0,1,2, ...)")
    args = parser.parse_args(argv)
    jobs = sweep_jobs(args.overrides, args.sweep_dir)
    t0 = time.perf_counter()
    results, stopped = reporting_stops(lambda: run_many(jobs, args.threads),
                                       "finished runs are kept and interrupted ones saved a checkpoint; rerun the "
                                       "same command with resume=true to continue")
    if stopped is not None:
        return stopped
    wall = time.perf_counter() - t0
    for (_, d), m in zip(jobs, results):
        shown = ", ".join(f"{split} error {r['error']:.2f}%" for split, r in m["final"].items() if split != "train")
        print(f"{d.name}: {shown}, train {m['train_time_s']:.1f} s")
    print(f"{len(jobs)} runs in {wall:.1f} s wall on {args.threads} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

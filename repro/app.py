"""The Hydra app every era's command shares: compose conf/<app>/<app>.yaml,
resolve it to a plain dict, run the era's `run(config, run_dir)` with user
errors turned into one line, and hand the sweep objective back to Hydra.

Hydra's own record of a job (.hydra/config.yaml, hydra.yaml, overrides.yaml) is
switched off in the era configs (`hydra.output_subdir: null`), because Hydra
writes it before the job runs, over the record of a finished or locked run
folder. The app hands the same three files, with the same text, to the run
(`repro.train.run.provenance`), which writes them once it owns the folder.

Each app has its own config tree, conf/<app>/ (so `lecun1989 --help` lists only
the 1989 groups, and `lecun1989 data=cifar10` is refused before any folder is
made); what both apps share (Hydra's logging and launcher configs) lives in
conf/shared/, which each app's primary config puts on Hydra's search path as
`${repro.shared_conf:}`: an absolute file:// path, so the apps run from any
working directory. The `logger` group, also both apps', is stored in Hydra's
ConfigStore (repro/train/logger.py), which --help lists for every app.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, read_write

from .cli_errors import EXIT_USER_ERROR, JobRefused, RefusedJob, refused_jobs, report_user_errors, sweep_interrupts
from .startup import interrupted_at_start, quiet_broken_pipe
from .train.logger import register_configs as register_logger_configs
from .train.run import PROVENANCE_DIR, owns, provenance

CONF_ROOT = Path(__file__).resolve().parents[1] / "conf"
SHARED_CONF_DIR = CONF_ROOT / "shared"


def conf_dir(app: str) -> str:
    """The config tree of one app: conf/<app>/, holding <app>.yaml and its groups."""
    return str(CONF_ROOT / app)


# Resolved by Hydra when it reads `hydra.searchpath` of a primary config.
OmegaConf.register_new_resolver("repro.shared_conf", lambda: SHARED_CONF_DIR.as_uri(), replace=True)
register_logger_configs()  # the `logger` group, both apps' (repro/train/logger.py)

Run = Callable[[Mapping[str, Any], Path], Mapping[str, Any]]


def hydra_command(config_name: str, run: Run, objective: Callable[[Mapping[str, Any]], float],
                  foreign_groups: Mapping[str, str] | None = None) -> Callable[[], None]:
    """The console-script entry point of one era: ``run`` trains into the run
    directory and returns the final metrics; ``objective(metrics)`` is the value
    returned to Hydra sweepers that optimise one. ``foreign_groups``: other apps'
    Python-registered groups (group -> app), refused by name."""
    log = logging.getLogger(config_name)

    @hydra.main(config_path=conf_dir(config_name), config_name=config_name, version_base="1.3")
    def _main(cfg: DictConfig) -> float:
        config = OmegaConf.to_container(cfg, resolve=True)
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            with report_user_errors(run_dir, sys.argv[1:]), provenance(hydra_files(cfg), hydra_wrote(run_dir)):
                metrics = run(config, run_dir)
        except JobRefused as exc:  # a sweep job with a bad value or a taken folder: its line is printed
            return RefusedJob(str(exc))
        log.info(f"run record: {run_dir}")
        # A diverged run is a result (exit 0, "status": "diverged"), not a crash; sweepers get NaN.
        return float("nan") if metrics.get("status") == "diverged" else float(objective(metrics))

    @quiet_broken_pipe  # `lecun1989 --help | head -1`: no traceback
    def main() -> None:
        try:
            refuse_bad_command_line(config_name, sys.argv[1:], foreign_groups)
            with sweep_interrupts(sys.argv[1:]):  # a sweep: one resume command for all its jobs
                _main()
        except KeyboardInterrupt:  # while Hydra composes, before the run's own handling (report_user_errors)
            interrupted_at_start()
        refused = refused_jobs()
        if refused:  # each said why in its own line; the others ran and the summary is printed
            print(f"error: {len(refused)} job(s) of the sweep refused (see their error lines above)", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return main


HOLDOUT = "holdout"  # the validation split carved from the training data (data.val_size)


def sweep_objective(metrics: Mapping[str, Any]) -> float:
    """The value a run returns to a Hydra sweeper that minimises one (Optuna...):
    the error on the validation split carved from the training data when the run
    has one (data.val_size > 0), else the final training loss (the train split's
    loss after the last pass where the era evaluates it, else the last pass's mean
    training loss). Never a test error: choices are made without a look at the test set."""
    final = metrics.get("final") or {}
    if HOLDOUT in final:
        return float(final[HOLDOUT]["error"])
    if "train" in final and "loss" in final["train"]:
        return float(final["train"]["loss"])
    return float(metrics["final_train_step_loss"])


def with_holdout(eval_sets: Mapping[str, Any], holdout: Any) -> dict[str, Any]:
    """The era's evaluation splits with the validation split added after `train`
    (first when there is none): the order of the log lines and history columns."""
    out: dict[str, Any] = {} if "train" in eval_sets else {HOLDOUT: holdout}
    for name, split in eval_sets.items():
        out[name] = split
        if name == "train":
            out[HOLDOUT] = holdout
    return out


def refuse_bad_command_line(app: str, args: list[str], foreign_groups: Mapping[str, str] | None = None) -> None:
    """One `error:` line and exit 2 for what Hydra rejects before the app runs
    (an unknown group option, another app's group, a top-level key the app does not
    read, appended or not, an unwritable run directory: repro/precheck.py)."""
    from .precheck import check_command_line, top_level_keys

    others = {p.name: p for p in CONF_ROOT.iterdir() if p.is_dir() and p.name not in (app, SHARED_CONF_DIR.name)}
    message = check_command_line([conf_dir(app), SHARED_CONF_DIR], args, others, foreign_groups,
                                 top_level_keys(Path(conf_dir(app)) / f"{app}.yaml"))
    if message is not None:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def hydra_wrote(run_dir: Path) -> frozenset[str]:
    """The folder Hydra wrote into the run folder before the app ran: its output_subdir, where a
    user set hydra.output_subdir (the apps' configs switch it off); part of the run's record."""
    subdir = HydraConfig.get().output_subdir
    return frozenset() if subdir is None else frozenset({Path(str(subdir)).parts[0]})


def hydra_files(task_cfg: DictConfig) -> dict[str, str]:
    """The files Hydra writes into a job's output_subdir (hydra/core/utils.py
    run_job), under the same names and with the same text, for the run to write
    into .hydra/ once it owns its folder: the task config, the hydra node and the
    task overrides. With Hydra's own copy switched off (output_subdir null), the
    recorded hydra.yaml names .hydra, where the files are."""
    hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)  # {"hydra": ...}, as Hydra saves it
    if hydra_cfg.hydra.output_subdir is None:
        with read_write(hydra_cfg.hydra):
            hydra_cfg.hydra.output_subdir = PROVENANCE_DIR
    return {
        f"{PROVENANCE_DIR}/config.yaml": OmegaConf.to_yaml(task_cfg),
        f"{PROVENANCE_DIR}/hydra.yaml": OmegaConf.to_yaml(hydra_cfg),
        f"{PROVENANCE_DIR}/overrides.yaml": OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task),
    }


class RunLogFile(logging.FileHandler):
    """The run folder's cli.log (conf/shared/hydra/job_logging/repro.yaml), written
    only once a run has claimed its folder (repro.train.run.owns): what is logged
    before (or by a run refused before its claim: the folder foreign, finished,
    interrupted or locked) is held here and written then, or never, so a refused
    run leaves the folder as it was. The console has every line either way."""

    HELD = 1000  # at most this many early records are held (the oldest go first)

    def __init__(self, filename: str, mode: str = "a", encoding: str | None = None) -> None:
        super().__init__(filename, mode=mode, encoding=encoding, delay=True)
        self._held: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        folder = os.path.dirname(self.baseFilename)
        if not owns(folder):
            self._held = [*self._held[-(self.HELD - 1):], record]
            return
        if self.stream is None and not os.path.isdir(folder):
            return  # the folder is gone (a torchrun helper process's own, removed for rank 0's); the console has it
        held, self._held = self._held, []
        for early in held:
            super().emit(early)
        super().emit(record)

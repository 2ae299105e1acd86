"""The Hydra app every era's command shares: compose conf/<config_name>.yaml,
resolve it to a plain dict, run the era's `run(config, run_dir)` with user
errors turned into one line, and hand the sweep objective back to Hydra."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .cli_errors import report_user_errors

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

Run = Callable[[Mapping[str, Any], Path], Mapping[str, Any]]


def hydra_command(config_name: str, run: Run, objective: Callable[[Mapping[str, Any]], float]) -> Callable[[], None]:
    """The console-script entry point of one era: ``run`` trains into the run
    directory and returns the final metrics; ``objective(metrics)`` is the value
    returned to Hydra sweepers that optimise one."""
    log = logging.getLogger(config_name)

    @hydra.main(config_path=CONF_DIR, config_name=config_name, version_base="1.3")
    def _main(cfg: DictConfig) -> float:
        config = OmegaConf.to_container(cfg, resolve=True)
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        with report_user_errors(run_dir, sys.argv[1:]):
            metrics = run(config, run_dir)
        log.info(f"run record: {run_dir}")
        return float(objective(metrics))

    def main() -> None:
        _main()

    return main

"""The `lecun1989` command: a Hydra app over conf/lecun1989.yaml."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from repro.cli_errors import report_user_errors

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("lecun1989")


@hydra.main(config_path=CONF_DIR, config_name="lecun1989", version_base="1.3")
def _main(cfg: DictConfig) -> float:
    from .experiment import run

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    with report_user_errors(run_dir, sys.argv[1:]):
        metrics = run(config, run_dir)
    log.info(f"run record: {run_dir}")
    # Returned for Hydra sweepers that optimise an objective.
    return float(metrics["final"]["test"]["error"])


def main() -> None:
    _main()


if __name__ == "__main__":
    main()

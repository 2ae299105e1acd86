"""The `alexnet2012` command: a Hydra app over conf/alexnet2012.yaml.

Data parallelism: `torchrun --nproc_per_node K -m alexnet2012.cli parallel.mode=ddp ...` starts
K copies of this app; they join one process group, agree on rank 0's run
directory, and train on slices of every global batch.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from repro.cli_errors import report_user_errors

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("alexnet2012")


def _shared_run_dir(own: Path, backend: str) -> Path:
    """Under torchrun: rank 0's run directory for every process. Hydra made one
    per process (its timestamps differ by microseconds); the others' dirs hold
    nothing but Hydra's own files and are removed."""
    from repro.train.distributed import broadcast_object, init_world

    world = init_world(backend)
    if not world.distributed:
        return own
    shared = Path(broadcast_object(str(own)))
    if not world.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one log: rank 0's
        if own.resolve() != shared.resolve() and all(p.name in (".hydra", "cli.log") for p in own.iterdir()):
            shutil.rmtree(own, ignore_errors=True)
    return shared


@hydra.main(config_path=CONF_DIR, config_name="alexnet2012", version_base="1.3")
def _main(cfg: DictConfig) -> float:
    from .experiment import run
    from .recipe import recipe_from_config

    config = OmegaConf.to_container(cfg, resolve=True)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with report_user_errors(run_dir, sys.argv[1:]):
        recipe_from_config(config)  # config mistakes stop every process before any joins the group
        run_dir = _shared_run_dir(run_dir, str((config.get("parallel") or {}).get("ddp_backend", "auto")))
        metrics = run(config, run_dir)
    log.info(f"run record: {run_dir}")
    # Returned for Hydra sweepers that optimise an objective.
    return float(metrics["final"]["val"]["error"])


def main() -> None:
    _main()


if __name__ == "__main__":
    main()

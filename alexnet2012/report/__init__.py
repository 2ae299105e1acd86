"""The 2012 era's report plug-in (entry point `repro.reporters: alexnet2012`).

Every sweep folder under results/alexnet2012/runs/ becomes one table in
results/alexnet2012/: the paper's Figure 1 (figure1.py) for a `figure1` sweep, its per-net rate
search (figure1_rates.py) for a `figure1_rates` sweep,
cuda-convnet's recipes beside the numbers its layer files state
(cudaconvnet.py, published.py) for a `cudaconvnet_cifar10` sweep, the 2012 ablation table and
its validation search (cc_ablations.py) for `cc_ablations` and `cc_ablations_tune` sweeps, and
otherwise repro.report's generic per-run table (val and val10 errors).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from repro.report.collect import find_run_dirs
from repro.report.reporter import Reporter

from .cc_ablations import TABLE as CC_ABLATIONS, TUNE as CC_ABLATIONS_TUNE, sweep_kind, write_ablations, write_tune
from .cudaconvnet import is_cudaconvnet_sweep, write_cudaconvnet_table
from .figure1 import write_figure1
from .figure1_rates import TABLE as FIGURE1_RATES, write_figure1_rates
from .headline import headline


def sweep_table(sweep: Path, stem: Path) -> list[Path] | None:
    """This era's own table for a sweep folder, or None for the generic per-run table."""
    if _says_table(sweep, FIGURE1_RATES):  # Figure 1's rate search: every rate's curve, each net's pick
        return write_figure1_rates(sweep, stem)
    if sweep.name.startswith("figure1"):  # the AlexNet paper's Figure 1: curves and epochs to 25%
        return write_figure1(sweep, stem)
    if is_cudaconvnet_sweep(sweep):
        return write_cudaconvnet_table(sweep, stem)
    kind = sweep_kind(sweep)  # the 2012 ablation table, and the validation search behind two of its rows
    if kind == CC_ABLATIONS:
        return write_ablations(sweep, stem)
    if kind == CC_ABLATIONS_TUNE:
        return write_tune(sweep, stem)
    return None


def _says_table(sweep: Path, name: str) -> bool:
    """Whether a run under ``sweep`` says `table: name` in its config.yaml (finished or not)."""
    for path in find_run_dirs([sweep]):
        try:
            config = yaml.safe_load((path / "config.yaml").read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(config, dict) and config.get("table") == name:
            return True
    return False


REPORTER = Reporter(
    era="alexnet2012",
    run_tables=("results/alexnet2012/runs",),
    sweep_table=sweep_table,
    headline=headline,  # REPORT.md's headline rows: cuda-convnet's and the paper's numbers beside ours
)

"""repro/argtypes.py (the checked numeric argparse types), loaded by its path for the
benches that import no `repro` package when they start: cifar_step's workers import
another commit's `repro`, which an early import of ours would shadow."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_repro_argtypes", Path(__file__).resolve().parents[1] / "repro" / "argtypes.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
Bounded, count, number, seed = _module.Bounded, _module.count, _module.number, _module.seed

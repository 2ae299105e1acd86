"""Per-layer-type implementations of the AlexNet ops, chosen by ``OpsConfig``.

Importing this package registers the "torch" implementations; kernel modules
register theirs on import (import them here so ``OpsConfig.validate`` sees them).
"""

from . import custom_ops, torch_ops  # noqa: F401  (register "torch" for every kind, "custom" for the kernels)
from .registry import KINDS, OpsConfig, available, make, register

__all__ = ["KINDS", "OpsConfig", "available", "make", "register"]

"""Where the data sets live: config, else $REPRO_DATA_ROOT, else ./data."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT_ENV = "REPRO_DATA_ROOT"
DEFAULT_DATA_ROOT = "data"


def resolve_data_root(configured: str | os.PathLike[str] | None = None) -> Path:
    """The absolute data root. An explicit value wins over the environment variable."""
    if configured is not None and str(configured) != "":
        chosen = configured
    else:
        chosen = os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    return Path(chosen).expanduser().resolve()


def describe_root(root: Path) -> str:
    """How the root was chosen, for error messages."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env and Path(env).expanduser().resolve() == root:
        return f"{root} (from ${DATA_ROOT_ENV})"
    return f"{root} (from data.root, else the default ./{DEFAULT_DATA_ROOT})"

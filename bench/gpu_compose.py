"""Compose every job of an app's command lines without running them:
`python bench/gpu_compose.py APP '[-m] ARGS...' ['[-m] ARGS...' ...]` (one quoted argument per command line).

What a GPU session checks before it spends GPU time on a sweep: the sweep expanded as Hydra's basic sweeper
expands it (the experiment's hydra.sweeper.params first, then the command line's comma lists), each job
composed from the app's config tree, resolved, and turned into the era's recipe (recipe_from_config), so a
bad override or value fails here, in seconds, with the app's own error. Needs no GPU and no data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def jobs(app: str, overrides: list[str]) -> list[list[str]]:
    """The override list of each job of `APP -m OVERRIDES`, in Hydra's order."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from repro.app import conf_dir

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=conf_dir(app), version_base="1.3"):
        base = compose(app, overrides=fixed, return_hydra_config=True)
    params = [f"{k}={v}" for k, v in (base.hydra.sweeper.params or {}).items()]
    batches = BasicSweeper.split_arguments(parser.parse_overrides(params + overrides), None)
    return [job for batch in batches for job in batch]


def check(app: str, all_jobs: list[list[str]]) -> list[str]:
    """Each job composed (without its hydra.* overrides: they configure the launch, not the run), resolved and
    made into the era's recipe; the jobs' names."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from repro.app import conf_dir

    if app == "lecun1989":
        from lecun1989.recipe import recipe_from_config
    else:
        from alexnet2012.recipe import recipe_from_config
    names = []
    with initialize_config_dir(config_dir=conf_dir(app), version_base="1.3"):
        for job in all_jobs:
            cfg = compose(app, overrides=[o for o in job if not o.startswith("hydra.")])
            config = OmegaConf.to_container(cfg, resolve=True)
            recipe_from_config(config)
            names.append(str(config.get("name", "run")))
    return names


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("lecun1989", "alexnet2012"):
        print("usage: gpu_compose.py lecun1989|alexnet2012 '[-m] OVERRIDES...' ...", file=sys.stderr)
        return 2
    import importlib
    import shlex

    app = argv[0]
    importlib.import_module(f"{app}.cli")  # registers the app's Python-declared config groups, as the app does
    for line in argv[1:]:
        t0 = time.perf_counter()
        words = shlex.split(line)
        args = [a for a in words if a not in ("-m", "--multirun")]
        all_jobs = jobs(app, args) if len(args) < len(words) else [args]
        names = check(app, all_jobs)
        print(f"{app} {line}: {len(all_jobs)} job(s) composed and their recipes built in "
              f"{time.perf_counter() - t0:.1f} s: {', '.join(dict.fromkeys(names))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

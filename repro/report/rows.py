"""Which runs are one row of a table: the same configuration, different seeds.

Two runs belong to one row when their resolved configs (the record's `config`,
and `recipe`, the values the code actually trained with) agree on every key
but the run-identity keys below. Within a table, the keys that tell its rows
apart and that the row name does not already say (an `optim.lr=0.01,0.1`
sweep: `optim.lr`) become the row's settings: columns of the row and per-run
tables, and part of the row's label in plots. Two runs of one row with the
same seed are one result: the earliest finished is kept (ties: the first run
folder by path) and the others are listed as duplicates, never counted.

A key the runs' command lines set (`.hydra/overrides.yaml`: `optim.lr=0.1`) is a setting too, even
where it is the same in every run of a table: two sweeps that differ only there get tables that say so.
A config group set there is said by the key that records its choice: `trick=[relu]` by `trick` (the
selected tricks, in order, a key of its own beside each trick's parameters), `data=mnist16` by `data.name`.

Run-identity keys, which never make two runs different rows:
- seed: what a row is averaged over;
- resume: a continued run is the same run;
- data.root, data.download, data.verify, data.pin_memory: where the (checksum-verified)
  data is read from and how it is fetched or copied, not which data;
- trainer.progress, logger.*: what is shown or logged, not what is trained;
- trainer.checkpoint_every_steps: when a checkpoint is written (a resumed run
  continues bit-identically, tests/repro/train/test_loop.py, so it never changes a result);
- trainer.eval_threads: how many cores evaluate (lecun1989's fused forward gives the same
  outputs on any number: tests/lecun1989/test_fast_eval.py);
- hydra.*: Hydra's own settings (folders, launcher).
Keys added to the configs after older records were written count at the value
their absence meant (repro/train/checkpoint.py's ADDED_KEYS), so new runs join
old rows. Anything else that differs (device, threads, backend, precision, eval batch
size included) makes a different row: a speed sweep is a sweep too. So do the
record's own data set, number of passes, training-set size and tricks (records
from older code, or a run stopped early by trainer.max_epochs, say it there
only); tables show those in their own columns, so they join a row's label only
where they tell two rows of the same settings apart (`softmax_ce passes=1`). A run told to stop at
a target error (trainer.stop_split) records the passes it took, which differ by seed: its passes
never split its row.

Every report groups its runs here: through `resolve` (a table of collected runs) or `group_records`
(run folders and their records, for a report that reads them itself), never by name or (name, seed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from repro.train.checkpoint import ADDED_KEYS

IDENTITY_KEYS = ("seed", "resume", "data.root", "data.download", "data.verify", "data.pin_memory",
                 "trainer.progress", "trainer.checkpoint_every_steps", "trainer.eval_threads", "logger", "hydra")
RECIPE = "recipe."  # prefix of the effective values (the record's `recipe`) in a flat config
MISSING = "—"  # a key a record does not have (written by older code)


def _is_identity(key: str) -> bool:
    key = key[len(RECIPE):] if key.startswith(RECIPE) else key
    return any(key == k or key.startswith(k + ".") for k in IDENTITY_KEYS)


def _value(v: Any) -> str:
    """A config value as one canonical string (what tables show and rows compare)."""
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, separators=(", ", ": "))


def flatten(tree: Mapping | None, prefix: str = "") -> dict[str, str]:
    """{"optim": {"lr": 0.01}} -> {"optim.lr": "0.01"}; an empty group (trick=[relu]: `relu: {}`) is kept."""
    out: dict[str, str] = {}
    for k, v in (tree or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = _value(v)
    return out


def row_config(record: Mapping, run: Path | None = None) -> dict[str, str]:
    """The flat config that identifies a record's row (run-identity keys left out).

    From the record's `config` (else the run's config.yaml) and its `recipe`."""
    config = record.get("config")
    if not isinstance(config, Mapping) and run is not None and (Path(run) / "config.yaml").is_file():
        try:
            config = yaml.safe_load((Path(run) / "config.yaml").read_text())
        except yaml.YAMLError:
            config = None
    flat = flatten(config if isinstance(config, Mapping) else {})
    if isinstance(config, Mapping) and ("trick" in config or "trainer" in config):
        # The selection itself (`trick=[relu]`), beside each trick's own parameters; an app's config
        # without the group selected none (`trick=[]` leaves it out).
        tricks = config.get("trick")
        flat["trick"] = "[" + ", ".join(map(str, tricks if isinstance(tricks, Mapping) else ())) + "]"
    # Keys added to the configs since older records were written, at the value their absence meant.
    flat = {**{k: _value(v) for k, v in ADDED_KEYS.items()}, **flat}
    flat.setdefault("name", _value(record.get("name", "")))
    recipe = record.get("recipe")
    if isinstance(recipe, Mapping):
        flat.update({RECIPE + k: _value(v) for k, v in ADDED_KEYS.items()})  # the effective values too
        flat.update(flatten(recipe, RECIPE))
    return {k: v for k, v in sorted(flat.items()) if not _is_identity(k)}


def row_key(config: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(config.items())), sort_keys=True)


def settings_keys(configs: Sequence[Mapping[str, str]], names: Sequence[str]) -> list[str]:
    """The keys that tell rows apart beyond their names, in the order they split them.

    Greedy over the config keys (sorted), then the recipe ones: a key is kept when
    it differs between runs the name and the keys kept so far put together.
    A recipe key is only shown when the configs alone do not separate two rows."""
    keys = sorted(set().union(*(set(c) for c in configs)) - {"name"}) if configs else []
    ordered = [k for k in keys if not k.startswith(RECIPE)] + [k for k in keys if k.startswith(RECIPE)]
    groups: list[tuple] = [(n,) for n in names]
    shown: list[str] = []
    for key in ordered:
        values = [c.get(key, MISSING) for c in configs]
        seen: dict[tuple, str] = {}
        if any(seen.setdefault(g, v) != v for g, v in zip(groups, values)):
            shown.append(key)
            groups = [(*g, v) for g, v in zip(groups, values)]
    return shown


def command_line_keys(runs: Sequence[Path], configs: Sequence[Mapping[str, str]]) -> list[str]:
    """The config keys the runs' command lines set (`optim.lr=0.1`: each run's .hydra/overrides.yaml;
    a config group by the key that records its choice, `_set_keys`), outside the run-identity keys and
    `name`, that have one value in every run: shown as settings even so, so tables of two sweeps that
    differ only there can be told apart. (One that varies is a setting already where it splits runs of
    one name, settings_keys; where only the names differ, the name says it.)"""
    known = set().union(*(set(c) for c in configs)) if configs else set()
    found: set[str] = set()
    for run in runs:
        try:
            overrides = yaml.safe_load((Path(run) / ".hydra" / "overrides.yaml").read_text())
        except (OSError, yaml.YAMLError):
            continue
        for item in overrides if isinstance(overrides, list) else []:
            key = str(item).split("=", 1)[0].lstrip("+")
            if "=" in str(item) and not key.startswith("~") and not _is_identity(key):
                found.update(_set_keys(key, known))
    found.discard("name")
    return sorted(k for k in found if len({c.get(k, MISSING) for c in configs}) == 1)


def _set_keys(key: str, known: set[str]) -> list[str]:
    """The config keys a command-line override of ``key`` sets: the key itself; for a config group
    (`trick=[relu]`, `data=mnist16`, `optim=sdlm`) the key that records its choice (`trick`, the
    group's `name`), else every key under it. A group choice is what a row ran with: its label says it."""
    if key in known:
        return [key]
    if f"{key}.name" in known:
        return [f"{key}.name"]
    return sorted(k for k in known if k.startswith(key + ".") and not _is_identity(k))


def label(name: str, settings: Sequence[tuple[str, str]]) -> str:
    """`baseline optim.lr=0.01`: a row's name and its settings."""
    return " ".join([name, *(f"{k}={v}" for k, v in settings)])


def _sort_value(v: str) -> tuple:
    try:
        return (0, float(v), "")
    except ValueError:
        return (2, 0.0, "") if v == MISSING else (1, 0.0, v)


def settings_order(settings: Sequence[tuple[str, str]]) -> tuple:
    """Sort key of a row's settings: numbers by value, then words, then missing."""
    return tuple(_sort_value(v) for _, v in settings)


FACTS = ("data", "passes", "n_train", "tricks")  # record fields a row is keyed by besides its config
# A run told to stop at a target error (trainer.stop_split) records the passes it took: an outcome of its
# seed, not part of its configuration, so its row is keyed by this instead.
TO_TARGET = "to target"


def record_facts(record: Mapping) -> dict[str, Any]:
    """The FACTS of a run record, as every report reads them (collect.py's columns)."""
    return {"data": record["data"], "passes": int(record["passes"]), "n_train": int(record.get("n_train") or 0),
            "tricks": ", ".join(t["name"] for t in record.get("tricks") or [])}


def _stops_at_target(config: Mapping[str, str]) -> bool:
    return config.get("trainer.stop_split", "") not in ("", MISSING) or \
        config.get(RECIPE + "trainer.stop_split", "") not in ("", MISSING)


def _facts(runs: pd.DataFrame) -> list[tuple[tuple[str, str], ...]]:
    cols = [c for c in FACTS if c in runs]
    stops = [_stops_at_target(c) for c in runs["config"]] if "config" in runs else [False] * len(runs)
    return [tuple((c, TO_TARGET if c == "passes" and stop else str(runs.at[i, c])) for c in cols)
            for i, stop in zip(runs.index, stops)]


def resolve(runs: pd.DataFrame, skipped: Sequence = ()) -> tuple[pd.DataFrame, list]:
    """One table's runs with their rows: adds `row` (label), `settings` (tuple of
    (key, value)) and `row_key`; drops duplicate (config, seed) runs, which come back
    as skipped records saying which run was kept. Diverged records (skipped, with a
    config) take part in telling rows apart and get their row's label."""
    from .collect import Skipped

    skipped = list(skipped)
    if runs.empty and not any(s.config is not None for s in skipped):
        return runs, skipped
    configs = [dict(c) for c in runs["config"]] if len(runs) else []
    names = [str(n) for n in runs["name"]] if len(runs) else []
    extra = [(i, s) for i, s in enumerate(skipped) if s.config is not None]
    every = configs + [dict(s.config) for _, s in extra]
    keys = settings_keys(every, names + [s.name for _, s in extra])
    paths = [Path(r) for r in runs["run"]] if len(runs) else []
    keys += [k for k in command_line_keys(paths + [s.path for _, s in extra], every) if k not in keys]
    for i, s in extra:
        settings = tuple((k, s.config.get(k, MISSING)) for k in keys)
        skipped[i] = dataclasses.replace(s, row=label(s.name, settings), settings=settings)
    if runs.empty:
        return runs, skipped
    runs = runs.copy()
    runs["settings"] = [tuple((k, c.get(k, MISSING)) for k in keys) for c in configs]
    facts = _facts(runs)
    # A fact joins the label only where it splits runs of the same name and settings.
    base = [label(n, s) for n, s in zip(names, runs["settings"])]
    seen: dict[str, set] = {}
    for b, f in zip(base, facts):
        seen.setdefault(b, set()).add(f)
    varying = {b: {k for j, (k, _) in enumerate(next(iter(fs))) if len({f[j][1] for f in fs}) > 1}
               for b, fs in seen.items()}
    runs["row"] = [label(b, [kv for kv in f if kv[0] in varying[b]]) for b, f in zip(base, facts)]
    runs["row_key"] = [row_key({**c, **{f"({k})": v for k, v in f}}) for c, f in zip(configs, facts)]
    finished = runs["finished_at"] if "finished_at" in runs else pd.Series([""] * len(runs), index=runs.index)
    order = sorted(runs.index, key=lambda i: (runs.at[i, "row_key"], int(runs.at[i, "seed"]),
                                              str(finished[i] or "~"), str(runs.at[i, "run"])))
    kept: dict[tuple[str, int], Any] = {}
    dropped = []
    for i in order:
        ident = (runs.at[i, "row_key"], int(runs.at[i, "seed"]))
        if ident in kept:
            first = runs.loc[kept[ident]]
            dropped.append(i)
            skipped.append(Skipped(Path(runs.at[i, "run"]),
                                   f"duplicate of {_shown_path(first['run'])} (same config and seed "
                                   f"{ident[1]}); not counted", row=runs.at[i, "row"], settings=runs.at[i, "settings"]))
        else:
            kept[ident] = i
    return runs.drop(index=dropped), skipped


def _shown_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a table, as `resolve` makes them: one configuration, its counted runs (one per seed)."""

    label: str  # `relu optim.lr=0.01`: the name and the settings that tell it from the other rows
    name: str
    settings: tuple[tuple[str, str], ...]
    key: str  # row_key: the configuration (and facts) that make the row
    runs: tuple[Path, ...]  # the counted runs, by seed
    seeds: tuple[int, ...]  # their seeds, in the same order
    duplicates: tuple[tuple[Path, Path], ...] = ()  # (a run not counted, the run of the same seed counted)


def group_records(records: Iterable[tuple[Path, Mapping]]) -> tuple[list[Row], list]:
    """Records grouped into rows exactly as the tables group them (`resolve`): a different configuration
    is a different row, the same configuration and seed a duplicate, never a second seed.

    ``records``: (run folder, its record: metrics.json as read_metrics or read_record gives it), finished
    or diverged. Returns the rows (by name, then settings) and the records not counted, as collect.Skipped:
    the duplicates ("duplicate of ...", with their row's label) and the diverged runs (their row's label).
    Records without a name, seed, data set or passes are skipped as malformed."""
    from .collect import Skipped

    frame, skipped = [], []
    for path, record in records:
        path = Path(path)
        try:
            entry = {"run": str(path), "name": str(record["name"]), "seed": int(record["seed"]),
                     "finished_at": str(record.get("finished_at") or ""), **record_facts(record),
                     "config": row_config(record, path)}
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append(Skipped(path, f"malformed record ({type(exc).__name__}: {exc})"))
            continue
        diverged = _diverged_reason(record)
        if diverged is not None:
            skipped.append(Skipped(path, diverged, config=entry["config"], name=entry["name"], seed=entry["seed"]))
        else:
            frame.append(entry)
    runs, skipped = resolve(pd.DataFrame(frame), skipped)
    dups: dict[str, list[tuple[Path, Path]]] = {}
    for s in skipped:
        if s.reason.startswith("duplicate of "):
            kept = runs[(runs["row"] == s.row) & (runs["seed"] == _seed_of(s.reason))]["run"]
            dups.setdefault(s.row, []).append((s.path, Path(kept.iloc[0]) if len(kept) else s.path))
    out = []
    for key, group in (runs.groupby("row_key", sort=False) if len(runs) else ()):
        group = group.sort_values(["seed", "run"])
        first = group.iloc[0]
        out.append(Row(first["row"], first["name"], tuple(first["settings"]), key,
                       tuple(Path(r) for r in group["run"]), tuple(int(s) for s in group["seed"]),
                       tuple(dups.get(first["row"], ()))))
    out.sort(key=lambda r: (r.name, settings_order(r.settings), r.label))
    return out, skipped


def _seed_of(reason: str) -> int:
    """The seed a duplicate's reason names ("... (same config and seed 3); not counted")."""
    return int(reason.rsplit("seed ", 1)[1].split(")")[0])


def _diverged_reason(record: Mapping) -> str | None:
    """Why a record is diverged, as read_metrics says it (its status, or a NaN in a record written as
    complete), else None."""
    from repro.train.record import DIVERGED, _first_non_finite, divergence_reason

    if record.get("status") == DIVERGED:
        return divergence_reason(record.get("diverged") if isinstance(record.get("diverged"), dict) else {})
    bad = _first_non_finite(record.get("final"))
    return None if bad is None else divergence_reason({"cause": f"final {bad[0]} is {bad[1]}, in a record written as complete"})

"""One row per finished run, with every split its evaluation reported.

The era-agnostic view of a folder of records: for runs whose splits are not
the 1989 train/test pair (AlexNet's val and val10: 1-crop and 10-crop,
top-1 and top-5), straight from metrics.json. Same records, same bytes.
Settings that tell runs of one name apart (rows.py: an lr sweep's `optim.lr`)
are columns after the run's folder; a sweep of more than one configuration
gets the error plot (its first split's top-1 error) and the learning curves.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from repro.train.atomic import write_text_atomic
from repro.train.record import DivergedRun, RecordError, read_metrics

from . import plots
from .collect import Skipped, diverged_skip, find_run_dirs, record_era, row_curves
from .markdown import fmt, table
from .rows import label, record_facts, resolve, row_config

RATES = ("error", "top5_error")


def run_rows(roots: Iterable[Path], era: str | None = None) -> tuple[pd.DataFrame, list[Skipped]]:
    """One row per counted run under ``roots`` (only ``era``'s records, where given: a folder may
    mix eras, and each era's runs go to its own table). Runs are grouped into configurations as
    every table groups them (rows.resolve): a run of the same configuration and seed as another is a
    duplicate, listed as skipped, never a second seed; its row's label is in the `row` attribute."""
    rows, skipped = [], []
    for path in find_run_dirs(roots):
        if era is not None and record_era(path) not in (era, None):
            continue
        try:
            m = read_metrics(path)
            env = m.get("environment") or {}
            facts = record_facts(m)  # data, passes, n_train, tricks: what rows.py keys a row by besides its config
            row = {
                "run": str(path),
                "era": m["era"],
                "name": m["name"],
                "data": facts["data"],
                "n_train": facts["n_train"],
                "n_test": int(m.get("n_test") or 0),
                "seed": int(m["seed"]),
                "passes": facts["passes"],
                "processes": int(m.get("world_size") or 1),
                "tricks": facts["tricks"],
                "finished_at": str(m.get("finished_at") or ""),
                "config": row_config(m, path),
            }
            for split, result in sorted(m["final"].items()):
                row.update({f"{split}_{k}": float(result[k]) for k in RATES if k in result})
            row.update({
                "wall_time_s": float(m["wall_time_s"]),
                "samples_per_s": float(m["samples_per_s"]),
                "hardware": env.get("hardware", "unknown"),
                "git_commit": str((env.get("git") or {}).get("commit", "unknown")),
            })
            rows.append(row)
        except DivergedRun as exc:  # its config still tells rows apart, and its row is named
            skipped.append(diverged_skip(path, str(exc)))
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            skipped.append(Skipped(path, str(exc)))
    frame = pd.DataFrame(rows)
    frame, skipped = resolve(frame, skipped)
    if not frame.empty:
        frame = frame.sort_values(["era", "name", "data", "seed", "run"], kind="stable").reset_index(drop=True)
        settings = list(frame["settings"])
        keys = [k for k, _ in settings[0]]
        labels = list(frame["row"])
        frame = frame.drop(columns=[c for c in INTERNAL if c in frame])
        at = frame.columns.get_loc("name") + 1
        for i, key in enumerate(keys):
            frame.insert(at + i, key, [dict(s)[key] for s in settings])
        frame.attrs["settings"] = keys
        frame.attrs["rows"] = labels
    return frame, skipped


# Columns the grouping needs (rows.resolve) that the table does not show.
INTERNAL = ("config", "settings", "row", "row_key", "finished_at", "tricks")


def write_run_table(roots: Iterable[Path], stem: Path, base: Path | None = None, era: str | None = None) -> list[Path]:
    """``stem``.csv and ``stem``.md; run paths are shown relative to ``base``; ``era``: see run_rows."""
    roots = [Path(r) for r in roots]
    frame, skipped = run_rows(roots, era)
    base = Path(base) if base is not None else Path.cwd()
    keys = frame.attrs.get("settings", [])
    split_cols = [c for c in frame.columns if c.endswith(RATES) and c not in ("n_train", "n_test", *keys)]
    stem = Path(stem)
    figures, left_out = _figures(frame, keys, split_cols, stem)
    skipped = [*skipped, *left_out]  # runs the curves lack: said, with why
    if not frame.empty:
        frame["run"] = [_relative(Path(r), base) for r in frame["run"]]
    headers = ["run", *keys, "data", "train images", "test images", "seed", "passes", "processes",
               *[_label(c) for c in split_cols], "wall time (min)", "train images/s", "hardware", "commit"]
    md_rows = [
        [r["run"], *(r[k] for k in keys), r["data"], f"{r['n_train']:,}", f"{r['n_test']:,}", r["seed"], r["passes"], r["processes"],
         *[fmt(r[c]) for c in split_cols], fmt(r["wall_time_s"] / 60, 1), fmt(r["samples_per_s"], 0),
         r["hardware"], r["git_commit"][:10]]
        for _, r in frame.iterrows()
    ]
    md = "".join([
        f"# Runs under {', '.join(_relative(r, base) for r in roots)}\n\n",
        "Generated by `repro runs` from the run records (metrics.json); errors in %. "
        "val = the centre crop, val10 = the paper's ten crops averaged.\n\n",
        table(headers, md_rows) if md_rows else "No finished runs.\n",
        "".join(f"\nSkipped {_relative(s.path, base)}: {s.reason}\n" for s in skipped),
        "".join(f"\n**{caption}**\n\n![{caption}]({path.name})\n" for caption, path in figures),
    ])
    write_text_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False, lineterminator="\n"))
    write_text_atomic(stem.with_suffix(".md"), md)
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), *(p for _, p in figures)]


def _figures(frame: pd.DataFrame, keys: list[str], split_cols: list[str],
             stem: Path) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """With more than one configuration (rows.py's rows): the error plot and the learning curves; and the
    runs left out of the curves (collect.row_curves)."""
    top1 = [c for c in split_cols if not c.endswith("top5_error")]
    if frame.empty or not top1:
        return [], []
    rows = frame.attrs.get("rows") or [label(str(r["name"]), [(k, str(r[k])) for k in keys]) for _, r in frame.iterrows()]
    order = list(dict.fromkeys(rows))
    if len(order) < 2:
        return [], []
    metric, split = top1[0], top1[0][: -len("_error")]
    runs = frame.assign(name=rows)
    path = plots.error_by_row(order, runs, {}, f"{stem.name}: {split} error per configuration",
                              stem.with_name(f"{stem.name}_error.png"), metric=metric,
                              metric_label=f"{split} error (%, top-1)")
    figures = [(f"{split} error per configuration (dots: seeds; bars: mean ± sd)", path)]
    curves, left_out = row_curves({row: runs.loc[runs["name"] == row, "run"] for row in order})
    splits = [s for s in ("train", "val", "test") if any(f"{s}_error" in c for c in curves.values())]
    if splits:
        path = plots.learning_curves(curves, f"{stem.name}: learning curves", stem.with_name(f"{stem.name}_curves.png"),
                                     splits=splits)
        figures.append(("Learning curves (mean over seeds)", path))
    return figures, left_out


def _label(column: str) -> str:
    split, _, metric = column.partition("_")
    return f"{split} {'top-5' if metric == 'top5_error' else 'top-1'}"


def _relative(path: Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)

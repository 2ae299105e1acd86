"""cuda-convnet's CIFAR-10 recipes: our runs beside the numbers its layer files state.

One line per counted run of a sweep whose records say `table: cudaconvnet_cifar10`, labelled by its
row as every table groups runs (repro.report.rows: a run of another configuration under the same name
is a row of its own, a second run of one configuration and seed a duplicate, listed, never counted):
our test error (1 view; 10 views where the recipe tests so), cuda-convnet's
stated error and GTX 580 time, our passes, wall time and hardware. A run on
a shortened schedule carries its own name (e.g. layers-18pct-shortened) and
is compared with the full recipe's number, marked as such. With more than one
row: the test error per row beside cuda-convnet's (a red diamond) and the
learning curves, as every sweep of more than one row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from repro.report import plots
from repro.report.collect import find_run_dirs, record_era, row_curves
from repro.report.markdown import fmt, table
from repro.report.rows import group_records
from repro.train.atomic import write_text_atomic
from repro.train.record import RecordError, read_record

from .published import CUDACONVNET_CIFAR10, CUDACONVNET_SOURCE

TABLE = "cudaconvnet_cifar10"


def _published(name: str) -> tuple[str, dict | None]:
    """The recipe a run name refers to ("layers-18pct-shortened" -> layers-18pct)."""
    for recipe in sorted(CUDACONVNET_CIFAR10, key=len, reverse=True):
        if name == recipe or name.startswith(recipe + "-"):
            return recipe, CUDACONVNET_CIFAR10[recipe]
    return name, None


def is_cudaconvnet_sweep(sweep: Path) -> bool:
    for path in find_run_dirs([sweep]):
        try:
            record = read_record(path)
        except RecordError:
            continue
        if record.get("era") in ("alexnet2012", None):  # a folder may hold another era's runs too
            return record.get("table") == TABLE
    return False


def records(sweep: Path) -> list[tuple[Path, dict]]:
    """(run folder, record) of every finished run of this era under ``sweep``, diverged ones included."""
    found = []
    for path in find_run_dirs([sweep]):
        if record_era(path) not in ("alexnet2012", None):
            continue  # another era's run in the same folder: its own era's table has it
        try:
            found.append((path, read_record(path)))
        except RecordError:
            continue  # unfinished or unreadable: not a result
    return found


def write_cudaconvnet_table(sweep: Path, stem: Path) -> list[Path]:
    """One line per counted run, labelled by its row (rows.group_records: runs of one name that differ in
    a setting are rows of their own, that setting in the label; a run of the same configuration and seed
    as another is a duplicate, listed below, never a second seed)."""
    found = dict(records(sweep))
    grouped, skipped = group_records(found.items())
    rows, folders = [], {}
    for row in grouped:
        for path in row.runs:
            m = found[path]
            recipe, pub = _published(m["name"])
            final = m["final"]
            folders.setdefault(row.label, []).append(path)
            rows.append({
                "run": row.label, "recipe": recipe, "seed": int(m["seed"]), "passes": int(m["passes"]),
                "test_images": int(m.get("n_test") or 0),  # data.n_val may evaluate a subset
                "test_error": float(final["val"]["error"]),
                "test_error_10_views": float(final["val10"]["error"]) if "val10" in final else None,
                "cuda_convnet_error": pub["test_error"] if pub else None,
                "wall_time_s": float(m["wall_time_s"]),
                "gtx580_time_s": pub["gtx580_time_s"] if pub else None,
                "hardware": (m.get("environment") or {}).get("hardware", "unknown"),
            })
    diverged = [f"{s.path.name}: {s.reason}" for s in skipped if s.diverged]  # finished, but no result
    others = [f"{s.path.name}" + (f" (`{s.row}`)" if s.row else "") + f": {s.reason}" for s in skipped if not s.diverged]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["recipe", "run", "seed"], kind="stable").reset_index(drop=True)
    counts = sorted(set(frame["test_images"])) if not frame.empty else []
    per_run = len(counts) > 1  # runs that evaluated different numbers of images: a column says which
    md_rows = [[r["run"], r["seed"], r["passes"], *([f"{r['test_images']:,}"] if per_run else []),
                fmt(r["test_error"]), fmt(r["test_error_10_views"]),
                fmt(r["cuda_convnet_error"], 0), fmt(r["wall_time_s"] / 60, 1),
                fmt(None if r["gtx580_time_s"] is None else r["gtx580_time_s"] / 60, 1), r["hardware"]]
               for _, r in frame.iterrows()]
    figures, left_out = _figures(frame, folders, stem)
    curve_notes = [f"{s.path.name} (`{s.row}`): {s.reason}" for s in left_out]
    md = "".join([
        "# cuda-convnet's CIFAR-10 recipes, rerun\n\n",
        f"Generated by `repro report` from the records under `{sweep}`; test error in % on {_evaluated(counts)}. "
        f"cuda-convnet's columns: the error and GTX 580 time its layer files state ({CUDACONVNET_SOURCE}). "
        "A run named `<recipe>-shortened` ran a shorter schedule than the recipe's.\n\n",
        table(["run", "seed", "passes", *(["test images"] if per_run else []), "test error", "test error, 10 views",
               "cuda-convnet", "our wall time (min)", "GTX 580 (min)", "our hardware"], md_rows)
        if md_rows else "No finished runs.\n",
        "".join(f"\nDiverged, not in the table: {line}\n" for line in sorted(diverged)),
        "".join(f"\nNot counted: {line}\n" for line in [*others, *curve_notes]),
        "".join(f"\n**{caption}**\n\n![{caption}]({path.name})\n" for caption, path in figures),
    ])
    write_text_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False, lineterminator="\n"))
    write_text_atomic(stem.with_suffix(".md"), md)
    return [stem.with_suffix(".csv"), stem.with_suffix(".md"), *(p for _, p in figures)]


def _evaluated(counts: list[int]) -> str:
    """How many test images the errors are on, as the records say (`n_test`: data.n_val may take a subset)."""
    if len(counts) == 1:
        return f"{counts[0]:,} test images"
    if not counts:
        return "the test images"
    return (f"the test images each run evaluated ({', '.join(f'{n:,}' for n in counts[:-1])} or {counts[-1]:,}: "
            "column `test images`)")


def _figures(frame: pd.DataFrame, folders: dict[str, list[Path]],
             stem: Path) -> tuple[list[tuple[str, Path]], list]:
    """More than one row: test error per row (cuda-convnet's stated error as a diamond) and the curves;
    and the runs left out of the curves (repro.report.collect.row_curves)."""
    order = list(dict.fromkeys(frame["run"])) if not frame.empty else []
    if len(order) < 2:
        return [], []
    published = {r["run"]: r["cuda_convnet_error"] for _, r in frame.iterrows() if r["cuda_convnet_error"] is not None}
    path = plots.error_by_row(order, frame.rename(columns={"run": "name"}), published,
                              f"{stem.name}: test error per recipe", stem.with_name(f"{stem.name}_error.png"),
                              published_label="cuda-convnet (its layer file's stated error)")
    figures = [("Test error per recipe, 1 view (dots: seeds; diamonds: cuda-convnet's stated error)", path)]
    curves, left_out = row_curves({name: folders[name] for name in order})
    if any("val_error" in c for c in curves.values()):  # records without a history: no curves to draw
        curve = plots.learning_curves(curves, f"{stem.name}: learning curves",
                                      stem.with_name(f"{stem.name}_curves.png"), splits=("val",))
        figures.append(("Learning curves: test error after each pass (1 view)", curve))
    return figures, left_out

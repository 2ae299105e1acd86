"""The `repro` command: era-agnostic tools (for now, `repro report`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from repro.report.collect import Skipped, collect
from repro.report.cudaconvnet_table import is_cudaconvnet_sweep, write_cudaconvnet_table
from repro.report.experiment_table import write_experiment
from repro.report.index import write_index
from repro.report.lecun1989_tables import write_baseline

DEFAULT_RUNS = [Path("results/lecun1989/runs")]
# Eras whose splits are not the 1989 train/test pair (AlexNet: val, val10):
# each sweep folder below one of these becomes one per-run table (`repro runs`).
DEFAULT_RUN_TABLES = [Path("results/alexnet2012/runs")]


def collection_of(path: Path, roots: Sequence[Path]) -> tuple[Path, str]:
    """The root a record was found under, and its collection: the first folder
    below the root (a sweep directory), or the root itself when records sit
    directly in it."""
    for root in roots:
        try:
            rel = Path(path).relative_to(root)
        except ValueError:
            continue
        return root, (rel.parts[0] if len(rel.parts) >= 2 else Path(root).resolve().name)
    return roots[0], Path(path).parent.name


def _tricks_catalogue() -> list[tuple[str, str, str]]:
    try:
        from modern_tricks import TRICKS
    except ImportError:  # pragma: no cover - installed with the project
        return []
    return [(t.name, t.summary, t.origin) for t in sorted(TRICKS.values(), key=lambda t: (t.stage, t.name))]


def _report(args: argparse.Namespace) -> int:
    roots = [Path(r) for r in (args.runs or DEFAULT_RUNS)]
    try:
        runs, skipped = collect(roots)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"collected {len(runs)} finished run(s); skipped {len(skipped)}")
    for s in skipped:
        print(f"  skipped {s.path}: {s.reason}")
    out = Path(args.out)
    key = lambda p: collection_of(p, roots)[1]  # noqa: E731
    collections = sorted({key(Path(r)) for r in runs["run"]} | {key(s.path) for s in skipped}) if len(runs) or skipped else []
    written: list[Path] = []
    for name in collections:
        mine = runs[[key(Path(r)) == name for r in runs["run"]]] if len(runs) else pd.DataFrame()
        lost: list[Skipped] = [s for s in skipped if key(s.path) == name]
        tables = sorted(set(mine["table"])) if len(mine) else [""]
        era = str(mine["era"].iloc[0]) if len(mine) else "lecun1989"
        for table_name in tables:
            rows = mine[mine["table"] == table_name] if len(mine) else mine
            if table_name:
                written += write_experiment(table_name, rows, lost, out / era)
            else:
                written += write_baseline(rows, lost, out / era, name=args.name, stem=args.stem or name)
    written += _run_tables(args, out)
    written.append(write_index(out, written, _tricks_catalogue()))
    for path in written:
        print(f"wrote {path}")
    return 0


def _run_tables(args: argparse.Namespace, out: Path) -> list[Path]:
    """<out>/<era>/<sweep>.{md,csv} for each sweep folder under the run-table roots."""
    from .report.run_table import write_run_table

    roots = args.run_tables if args.run_tables is not None else ([] if args.runs else DEFAULT_RUN_TABLES)
    written: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            if args.run_tables is not None:  # named on the command line: say so; a missing default is fine
                print(f"  no run records under {root}")
            continue
        for sweep in sorted(p for p in root.iterdir() if p.is_dir()):
            written += write_run_table([sweep], out / root.resolve().parent.name / sweep.name)
            # The 2012 era's CIFAR-10 comparisons go to <out>/cifar10/.
            if sweep.name.startswith("figure1"):  # the AlexNet paper's Figure 1: curves and epochs to 25%
                from .report.figure1 import write_figure1

                written += write_figure1(sweep, out / "cifar10" / sweep.name)
            elif is_cudaconvnet_sweep(sweep):
                written += write_cudaconvnet_table(sweep, out / "cifar10" / sweep.name)
    return written


def _runs(args: argparse.Namespace) -> int:
    from .report.run_table import write_run_table

    try:
        written = write_run_table(args.runs, args.out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser(
        "report", help="turn run records into tables and plots under results/, linked from results/REPORT.md"
    )
    report.add_argument("runs", nargs="*", type=Path,
                        help="directories searched (recursively) for run records; each folder directly below one "
                             "(a sweep) becomes one table, named after its experiment (`table` in the records) or, "
                             "for plain runs, after the folder (default: results/lecun1989/runs)")
    report.add_argument("--out", default="results", help="output root (default: results)")
    report.add_argument("--name", default="baseline",
                        help="plain runs (no experiment): which configuration name to tabulate (default: baseline)")
    report.add_argument("--stem", default=None, help="plain runs: output file stem (default: the folder's name)")
    report.add_argument("--run-tables", action="append", type=Path, default=None, metavar="DIR",
                        help="also write a per-run table (as `repro runs`) for each sweep folder under DIR, into "
                             "<out>/<DIR's parent name>/<sweep>.md (default, without positional runs: "
                             "results/alexnet2012/runs)")
    report.set_defaults(func=_report)
    runs = sub.add_parser("runs", help="one row per finished run with every evaluated split (AlexNet: val, val10)")
    runs.add_argument("runs", nargs="+", type=Path, help="directories searched (recursively) for run records")
    runs.add_argument("--out", type=Path, required=True, help="output stem: writes OUT.md and OUT.csv")
    runs.set_defaults(func=_runs)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

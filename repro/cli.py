"""The `repro` command: era-agnostic tools (`repro report`, `repro runs`).

The tables themselves come from each era's report plug-in (repro.report.reporter),
chosen by the `era` field of the run records; this module imports no era.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from repro.precheck import _writable_problem
from repro.report.collect import Skipped, collect, find_run_dirs, history, record_era
from repro.report.headline import headline, refresh_readme
from repro.report.index import write_index
from repro.report.reporter import Reporter, ReporterError, reporter_for, reporters
from repro.report.rows import resolve
from repro.report.run_table import write_run_table
from repro.startup import quiet_broken_pipe
from repro.train.record import RecordError, read_metrics, read_record


def default_runs() -> list[Path]:
    """The committed run records `repro report` reads without positional folders (each era's)."""
    return [Path(p) for r in reporters().values() for p in r.runs]


def default_run_tables() -> list[Path]:
    """The committed sweep folders tabulated one row per run by default (each era's)."""
    return [Path(p) for r in reporters().values() for p in r.run_tables]


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


def _era_of_records(paths: Sequence[Path]) -> str | None:
    """The `era` of the first readable record among ``paths``, diverged ones included (None: none says)."""
    for path in paths:
        try:
            era = read_record(path).get("era")
        except RecordError:
            continue
        if isinstance(era, str) and era:
            return era
    return None


def _era_by_root(root: Path) -> str | None:
    """The era whose committed runs are ``root`` or hold it; else the era whose
    records `repro report` reads by default (records that name no era)."""
    here = Path(root).resolve()
    for era, reporter in reporters().items():
        if any(here == Path(p).resolve() or Path(p).resolve() in here.parents for p in reporter.runs):
            return era
    return next((era for era, reporter in reporters().items() if reporter.runs), None)


def _report(args: argparse.Namespace) -> int:
    try:
        return _write_report(args)
    except ReporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _collection_dir(path: Path, roots: Sequence[Path]) -> Path:
    """The folder of the collection a record belongs to (for messages)."""
    for root in roots:
        try:
            rel = Path(path).relative_to(root)
        except ValueError:
            continue
        return Path(root) / rel.parts[0] if len(rel.parts) >= 2 else Path(root)
    return Path(path).parent


RESULTS = Path("results")  # the committed results: results/REPORT.md is only rewritten from all of them
README = Path("README.md")  # its Results section shows results/REPORT.md's headline (between markers)


def default_roots() -> tuple[list[Path], list[Path]]:
    """Everything under results/ that holds run records: (folders of collections, as each era's
    reporter names them plus any other results/*/runs; folders of per-run-table sweeps)."""
    tables = default_run_tables()
    runs = default_runs()
    known = {p.resolve() for p in runs + tables}
    extra = [p for p in sorted(RESULTS.glob("*/runs")) if p.is_dir() and p.resolve() not in known]
    return runs + extra, tables


def _write_report(args: argparse.Namespace) -> int:
    given = bool(args.runs)
    named_tables = args.run_tables is not None
    table_roots = list(args.run_tables or [])
    if given:
        roots = [Path(r) for r in args.runs]
    else:
        roots, defaults = default_roots()
        if not named_tables:
            table_roots = [p for p in defaults if p.is_dir()]  # a missing default is fine
    try:
        dirs = find_run_dirs(roots)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Each run goes to its era's reporter: the records of an era tabulated one row per run (AlexNet's
    # val and val10, no train/test pair) to that era's table, the others into rows (collect.py).
    era_of = {d: record_era(d) for d in dirs}
    per_run = {e for e, r in reporters().items()
               if r.experiment is None and r.plain is None and (r.sweep_table or r.run_tables)}
    own = [d for d in dirs if era_of[d] in per_run]
    runs, skipped = collect(roots, dirs=[d for d in dirs if era_of[d] not in per_run])
    own_done, own_skipped = _finished(own)
    # What the tables use: every finished run, whichever table it is in.
    # A finished run whose history.csv cannot be drawn is counted in the tables but missing from the
    # learning curves: said here, with why, as every table that draws curves says it (collect.row_curves).
    unskipped = {s.path for s in own_skipped}
    finished = [*(Path(r) for r in (runs["run"] if len(runs) else [])), *(d for d in own if d not in unskipped)]
    no_curve = [(path, why) for path, why in ((p, history(p)[1]) for p in finished) if why is not None]
    print(f"collected {len(runs) + own_done} finished run(s); skipped {len(skipped) + len(own_skipped)}"
          + (f"; {len(no_curve)} without a usable history.csv (counted, but left out of the learning curves)"
             if no_curve else ""))
    for s in [*skipped, *own_skipped]:
        print(f"  skipped {s.path}: {s.reason}")
    for path, why in no_curve:
        print(f"  no learning curve from {path}: {why}")
    # --out: <out>/<era>/; else, with folders, each sweep's report beside it (<sweep>/report/);
    # without folders, results/ itself (and results/REPORT.md).
    out = Path(args.out) if args.out is not None else (None if given else RESULTS)
    key = lambda p: collection_of(p, roots)[1]  # noqa: E731
    collections = sorted({key(Path(r)) for r in (runs["run"] if len(runs) else [])} | {key(s.path) for s in skipped}
                         | {key(d) for d in own})
    # Each collection's reporter, by its records' era; all found before anything is written.
    plan: list[tuple[str, Reporter, pd.DataFrame, list[Skipped], Path]] = []
    for name in collections:
        mine = runs[[key(Path(r)) == name for r in runs["run"]]] if len(runs) else pd.DataFrame()
        lost: list[Skipped] = [s for s in skipped if key(s.path) == name]
        theirs = sorted({era_of[d] for d in own if key(d) == name})
        where = _collection_dir(Path(mine["run"].iloc[0]) if len(mine) else lost[0].path if lost else
                                next(d for d in own if key(d) == name), roots)
        # Without rows of another era here, the unfinished records (no era) are the per-run table's to list.
        rows_here = bool(len(mine)) or any(era_of.get(s.path) for s in lost) or (bool(lost) and not theirs)
        # Runs of a per-run era in a folder with other eras' runs: their table gets the era in its name.
        mixed = rows_here or len(theirs) > 1
        plan += [(f"{name}_{era}" if mixed else name, reporter_for(era, where), pd.DataFrame(), [], where)
                 for era in theirs]
        if not rows_here:
            continue
        for era in sorted(set(mine["era"])) if len(mine) else []:
            reporter_for(str(era), where)
        era = str(mine["era"].iloc[0]) if len(mine) else (
            _era_of_records([s.path for s in lost]) or _era_by_root(collection_of(lost[0].path, roots)[0]))
        if era is None:
            raise ReporterError(f"cannot tell the era of the run records under {where} (none finished)")
        plan.append((name, reporter_for(era, where), mine, lost, where))
    sweeps = _run_table_sweeps(table_roots)
    read = [(where, name) for name, _, _, _, where in plan] + [(sweep, sweep.name) for _, sweep, _ in sweeps]
    if not given:
        print("read run records from:")
        for root in roots + table_roots:
            mine = sorted(n for w, n in read if w == root or root in w.parents)
            print(f"  {root}: {len(mine)} folder(s){': ' + ', '.join(mine) if mine else ''}")
        yours = [d for d in ("multirun", "outputs") if Path(d).is_dir()]
        if yours:  # where the commands write: never mixed into the committed results
            print(f"  not read: {', '.join(d + '/' for d in yours)} (your runs; report one sweep with "
                  "`repro report multirun/<app>/<sweep>`)")
    written: list[Path] = []
    for name, reporter, mine, lost, where in plan:
        out_dir = out / reporter.era if out is not None else where / "report"
        if reporter.experiment is None and reporter.plain is None and (reporter.sweep_table or reporter.run_tables):
            # An era whose sweeps are tables of their own (AlexNet: one row per run, val and val10).
            stem = out_dir / name
            own = reporter.sweep_table(where, stem) if reporter.sweep_table else None
            out_dir.mkdir(parents=True, exist_ok=True)
            written += own if own is not None else write_run_table([where], stem, era=reporter.era)
            continue
        tables = sorted(set(mine["table"])) if len(mine) else [""]
        for table_name in tables:
            rows_ = mine[mine["table"] == table_name] if len(mine) else mine
            rows_, lost_ = resolve(rows_, lost)
            for dup in lost_[len(lost):]:
                print(f"  not counted: {dup.path}: {dup.reason}")
            if table_name and reporter.experiment is not None:
                written += reporter.experiment(table_name, rows_, lost_, out_dir)
            elif not table_name and reporter.plain is not None:
                written += reporter.plain(rows_, lost_, out_dir, name=args.name, stem=args.stem or name)
            else:
                print(f"  {name}: the {reporter.era} reporter has no table for "
                      f"{'experiment ' + table_name if table_name else 'plain runs'}")
    for root, sweep, reporter in sweeps:
        # <out>/<DIR's parent name>/<sweep>: the era's own table for the sweep, or the per-run one.
        stem = (out / root.resolve().parent.name if out is not None else sweep / "report") / sweep.name
        stem.parent.mkdir(parents=True, exist_ok=True)
        own = reporter.sweep_table(sweep, stem) if reporter is not None and reporter.sweep_table else None
        written += own if own is not None else write_run_table([sweep], stem)
    if out is not None and (not given or out.resolve() != RESULTS.resolve()):
        tricks = [t for r in reporters().values() for t in r.tricks()]
        kept = _still_there(out, written) if not given else []
        # Without folders: the headline, every era's published numbers beside ours (repro/report/headline.py),
        # and, when that is results/ itself, the README's copy of it.
        head = "" if given else headline(reporters(), runs, [(s, r.era if r else None) for _, s, r in sweeps], out)
        written.append(write_index(out, written, tricks, kept=kept, head=head))
        if head and out.resolve() == RESULTS.resolve() and refresh_readme(README, head):
            written.append(README)
    elif out is not None:
        print(f"  {out / 'REPORT.md'} left as it is: it is regenerated from everything under {RESULTS}/ "
              "by `repro report` without folders")
    for path in written:
        print(f"wrote {path}")
    return 0


def _finished(dirs: Sequence[Path]) -> tuple[int, list[Skipped]]:
    """How many of the run folders ``dirs`` hold a finished record, and the others as skipped."""
    done, skipped = 0, []
    for path in dirs:
        try:
            read_metrics(path)
            done += 1
        except RecordError as exc:  # diverged, unfinished, unreadable: said as collect says it
            skipped.append(Skipped(path, str(exc)))
    return done, skipped


def _still_there(out: Path, written: Sequence[Path]) -> list[Path]:
    """Tables under ``out`` this report did not write (their records not found this time): kept in
    the index, marked so, rather than silently dropped."""
    done = {Path(p).resolve() for p in written}
    found = []
    for path in sorted(out.glob("*/*.md")):
        if path.parent.name in ("bench", "runs") or path.resolve() in done:
            continue
        found.append(path)
    return found


def _run_table_sweeps(roots: Sequence[Path]) -> list[tuple[Path, Path, Reporter | None]]:
    """(root, sweep folder, its era's reporter) for each sweep folder under the run-table roots."""
    found = []
    for root in map(Path, roots):
        if not root.is_dir():
            print(f"  no run records under {root}")
            continue
        for sweep in sorted(p for p in root.iterdir() if p.is_dir()):
            era = _era_of_records(find_run_dirs([sweep]))
            found.append((root, sweep, None if era is None else reporter_for(era, where=sweep)))
    return found


def _runs(args: argparse.Namespace) -> int:
    try:
        written = write_run_table(args.runs, args.out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


@quiet_broken_pipe  # `repro --help | head -1`: no traceback
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser(
        "report", help="turn run records into tables and plots: a sweep's beside it (SWEEP/report/), or, "
                       "without folders, everything under results/ into results/ and results/REPORT.md",
        description="repro report multirun/lecun1989/<sweep>  writes <sweep>/report/ (tables, error plot, learning "
                    "curves). repro report  (no folders) regenerates results/ from every run record under results/ "
                    "and rewrites results/REPORT.md, saying which folders it read.",
    )
    report.add_argument("runs", nargs="*", type=Path,
                        help="directories searched (recursively) for run records: a sweep folder, or a folder of "
                             "sweeps (each folder directly below it is one sweep); each sweep becomes one table, "
                             "named after its experiment (`table` in the records) or, for plain runs, after the "
                             "folder, written beside it in <sweep>/report/ (or under --out); results/REPORT.md is "
                             "never touched (default: everything under results/: each era's committed runs and "
                             "any other results/*/runs)")
    report.add_argument("--out", default=None,
                        help="output root: <out>/<era>/<table>.md and plots, and <out>/REPORT.md linking them "
                             "(default: beside each sweep given; without folders: results)")
    report.add_argument("--name", default="baseline",
                        help="plain runs (no experiment): which configuration name to tabulate (default: baseline)")
    report.add_argument("--stem", default=None, help="plain runs: output file stem (default: the folder's name)")
    report.add_argument("--run-tables", action="append", type=Path, default=None, metavar="DIR",
                        help="also write a per-run table (as `repro runs`) for each sweep folder under DIR, into "
                             "<out>/<DIR's parent name>/<sweep>.md, or the era's own table for that sweep (default, "
                             "without positional runs: the sweep folders each era's reporter names, e.g. "
                             "results/alexnet2012/runs)")
    report.set_defaults(func=_report)
    runs = sub.add_parser("runs", help="one row per finished run with every evaluated split (AlexNet: val, val10)")
    runs.add_argument("runs", nargs="+", type=Path, help="directories searched (recursively) for run records")
    runs.add_argument("--out", type=Path, required=True, help="output stem: writes OUT.md and OUT.csv")
    runs.set_defaults(func=_runs)
    args = parser.parse_args(argv)
    out = None if args.out is None else Path(args.out) if args.command == "report" else Path(args.out).parent
    problem = None if out is None else _writable_problem(out)
    if problem is not None:  # said before any record is read
        print(f"error: --out {args.out}: {problem}; choose another output folder", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except OSError as exc:
        # A folder the output goes to that is read-only, a file, full...: one line, not a traceback.
        # An atomic write's rename names its destination second (the temporary file first).
        where = next((f for f in (exc.filename2, exc.filename) if f is not None), "the output")
        print(f"error: cannot write {where}: {exc.strerror or exc}; the tables go beside each sweep "
              f"(<sweep>/report/) unless --out names a folder: give --out a folder you can write", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

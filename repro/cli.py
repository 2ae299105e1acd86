"""The `repro` command: era-agnostic tools (for now, `repro report`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro.report.collect import collect
from repro.report.lecun1989_tables import write_baseline


def _report(args: argparse.Namespace) -> int:
    try:
        runs, skipped = collect(args.runs)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"collected {len(runs)} finished run(s); skipped {len(skipped)}")
    for s in skipped:
        print(f"  skipped {s.path}: {s.reason}")
    written = write_baseline(runs, skipped, Path(args.out) / "lecun1989", name=args.name, stem=args.stem)
    for path in written:
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="turn run records into tables under results/")
    report.add_argument("runs", nargs="*", type=Path, default=[Path("results/lecun1989/runs/baseline")],
                        help="directories searched (recursively) for run records "
                             "(default: results/lecun1989/runs/baseline, the eager runs)")
    report.add_argument("--out", default="results", help="output root (default: results)")
    report.add_argument("--name", default="baseline", help="which configuration name to tabulate")
    report.add_argument("--stem", default=None, help="output file stem (default: the --name)")
    report.set_defaults(func=_report)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

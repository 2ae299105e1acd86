"""Each Figure 1 net's chosen rate, or the rate at the grid's edge to run next (figure1_rates.py).

    python -m alexnet2012.report.figure1_pick                      # every net: its pick or the next rate
    python -m alexnet2012.report.figure1_pick --net tanh           # the tanh net's pick alone (exit 1: none yet)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .fig1_runs import read_fig1_runs
from .figure1_rates import DEFAULT_SWEEPS, TABLE, choices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexnet2012.report.figure1_pick",
                                     description="Each Figure 1 net's chosen rate, or the rate to run next.")
    parser.add_argument("sweeps", nargs="*", default=list(DEFAULT_SWEEPS), help="folders of figure1_rates records")
    parser.add_argument("--net", choices=("relu", "tanh"), help="print only this net's chosen rate (exit 1 if none)")
    args = parser.parse_args(argv)
    missing = [s for s in args.sweeps if not Path(s).is_dir()]
    if missing:
        print(f"error: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    picks = choices(read_fig1_runs([Path(s) for s in args.sweeps], TABLE).runs)
    if args.net:
        mine = [c for c in picks if c.net == args.net and c.chosen]
        if not mine:
            print(f"error: no chosen rate for {args.net} yet", file=sys.stderr)
            return 1
        print(f"{mine[0].lr:g}")
        return 0
    for choice in picks:
        print(choice.text())
    return 0



if __name__ == "__main__":
    sys.exit(main())

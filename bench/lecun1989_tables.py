"""Wall time of whole 1989 tables on this machine (issue 20's targets), into results/bench/.

    python bench/lecun1989_tables.py                       # karpathy_table x 3 seeds, ablate_each x 5 seeds
    python bench/lecun1989_tables.py --only karpathy_table --threads 2

Each table runs as its sweep would (`python -m lecun1989.fused.many`: every row on
the fused kernel, `--threads` runs stepping at once, one core each) into a
temporary folder, and the wall time from the first job to the last record is
reported beside the issue's target. The records themselves are not kept: the
committed ones under results/lecun1989/runs/ are the results; this measures how
long a user waits for a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from repro.argtypes import count  # noqa: E402  (numeric arguments checked as parsed)

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from lecun1989.fused.many import run_many, sweep_jobs  # noqa: E402
from repro.report.markdown import table  # noqa: E402
from repro.train.environment import git_state, hardware_label  # noqa: E402

# (experiment, seeds, target minutes): issue 20's targets on this 2-core machine.
TABLES = [("karpathy_table", 3, 15.0), ("ablate_each", 5, 30.0)]


def measure(experiment: str, seeds: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"experiment={experiment}", "seed=" + ",".join(map(str, range(seeds))), "trainer.progress=false"]
        jobs = sweep_jobs(overrides, Path(tmp) / experiment)
        start = time.perf_counter()
        results = run_many(jobs, threads)
        wall = time.perf_counter() - start
    train = sum(r.get("train_time_s") or 0.0 for r in results)
    return {"table": experiment, "seeds": seeds, "runs": len(results), "threads": threads, "wall_min": wall / 60,
            "train_cpu_min": train / 60, "complete": sum(r.get("status") == "complete" for r in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=count(), default=2, help="runs stepping at once (default 2: this machine's cores)")
    parser.add_argument("--only", help="run only this table")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="lecun1989_tables")
    args = parser.parse_args(argv)
    os.environ.setdefault("REPRO_DATA_ROOT", str(ROOT / "data"))
    rows = []
    for experiment, seeds, target in TABLES:
        if args.only and args.only != experiment:
            continue
        row = measure(experiment, seeds, args.threads)
        row["target_min"] = target
        print(f"{experiment} x {seeds} seeds: {row['runs']} runs in {row['wall_min']:.1f} min wall "
              f"(target <= {target:.0f} min) on {args.threads} thread(s)", flush=True)
        rows.append(row)
    if not rows:
        print(f"error: no table named {args.only!r}; choose from {', '.join(t for t, _, _ in TABLES)}", file=sys.stderr)
        return 2
    hardware, commit = hardware_label("cpu"), str(git_state()["commit"])
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit, measured_at=stamp)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / f"{args.name}.csv", index=False)
    md = (f"# LeCun 1989: how long a whole table takes\n\nMeasured by `python bench/lecun1989_tables.py` on "
          f"**{hardware}**, torch {torch.__version__}, commit `{commit[:10]}`, {stamp}. Each table runs as its sweep "
          f"(`python -m lecun1989.fused.many --threads {args.threads}`: every row on the fused kernel, one run per "
          "core) into a temporary folder; wall time from the first job to the last record. Targets: issue 20. "
          f"Data: [`{args.name}.csv`]({args.name}.csv).\n\n"
          + table(["table", "seeds", "runs (complete)", "threads", "wall time (min)", "target (min)", "met",
                   "training, all runs (CPU min)"],
                  [[f"`{r['table']}`", r["seeds"], f"{r['runs']} ({r['complete']})", r["threads"], f"{r['wall_min']:.1f}",
                    f"<= {r['target_min']:.0f}", "yes" if r["wall_min"] <= r["target_min"] else "no",
                    f"{r['train_cpu_min']:.1f}"] for r in rows]))
    (args.out / f"{args.name}.md").write_text(md + "\n")
    print(f"wrote {args.out / args.name}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

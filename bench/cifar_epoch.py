"""How long cuda-convnet's CIFAR-10 schedules take on this machine's CPU: one real pass, timed.

    python bench/cifar_epoch.py                                  # cc_layers_18pct and cc_conv_local_11pct
    python bench/cifar_epoch.py --experiments cc_layers_18pct    # one schedule
    python bench/cifar_epoch.py --threads 1                      # trainer.threads (default 0: torch's own count)

Each experiment runs once through the real command (``alexnet2012 experiment=X trainer.device=cpu
trainer.epochs=1``) on the real CIFAR-10 under ``data.root`` (``REPRO_DATA_ROOT``), in a temporary run
folder: a training pass and the pass's single-view evaluation, as every pass of the full schedule but
the last runs them (``eval.ten_crop=never``: a schedule's ten-view test runs once, after it). The
table gives the pass's training and wall seconds from its history.csv and the full schedule's passes
from the experiment's own config, and their product: the projected hours, startup and the final
evaluation aside. One pass, one machine: the projection holds only for the hardware named, and the
CPU time other work took meanwhile is recorded beside it (bench/cifar_step.py's measure).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("cc_layers_18pct", "cc_conv_local_11pct")
sys.path.insert(0, str(ROOT / "bench"))
from _argtypes import count  # noqa: E402  (numeric arguments checked as parsed: repro/argtypes.py)
from cifar_step import ContentionMeter, described_commit, rounded  # noqa: E402


def full_passes(experiment: str) -> int:
    """The schedule's pass count as the experiment's config gives it."""
    from hydra import compose, initialize_config_dir

    import repro.app  # noqa: F401  (the resolver the configs use)

    with initialize_config_dir(config_dir=str(ROOT / "conf" / "alexnet2012"), version_base="1.3"):
        cfg = compose("alexnet2012", overrides=[f"experiment={experiment}", "trainer.device=cpu"])
    return int(cfg.trainer.epochs)


def one_pass(experiment: str, threads: int, folder: Path, timeout_s: int) -> dict:
    """Run one pass of ``experiment`` into ``folder``: its times from the history row, and the hardware."""
    command = [str(Path(sys.executable).with_name("alexnet2012")), f"experiment={experiment}", "trainer.device=cpu",
               "trainer.epochs=1", "trainer.progress=false", f"trainer.threads={threads}",
               # the one pass is also the last: without this, a ten_crop=last schedule would time its
               # final ten-view evaluation, which the schedule's other passes do not run
               "eval.ten_crop=never",
               f"hydra.run.dir={folder}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[1:])} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    with open(folder / "history.csv", newline="") as f:
        row = list(csv.DictReader(f))[-1]
    environment = json.loads((folder / "environment.json").read_text())
    return {"train_s": float(row["train_time_s"]), "pass_s": float(row["wall_time_s"]),
            "command_s": time.perf_counter() - started, "hardware": environment["hardware"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS))
    parser.add_argument("--threads", type=count(0), default=0, help="trainer.threads (0: torch's default count)")
    parser.add_argument("--timeout", type=count(), default=1800, help="seconds allowed per pass")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="cifar_epoch", help="output file stem")
    args = parser.parse_args(argv)
    if args.threads < 0 or args.timeout < 1:
        parser.error("--threads must be >= 0 and --timeout >= 1")
    known = {p.stem for p in (ROOT / "conf" / "alexnet2012" / "experiment").glob("*.yaml")}
    if unknown := sorted(set(args.experiments) - known):
        parser.error(f"unknown experiment(s) {unknown}; known: {sorted(known)}")

    import pandas as pd

    from repro.report.markdown import table
    from repro.train.atomic import write_text_atomic

    rows = []
    meter = ContentionMeter()
    for experiment in args.experiments:
        passes = full_passes(experiment)
        with tempfile.TemporaryDirectory() as tmp:
            measured = one_pass(experiment, args.threads, Path(tmp) / "run", args.timeout)
        rows.append({"experiment": experiment, "threads": args.threads, **measured, "full_passes": passes,
                     "projected_h": round(passes * measured["pass_s"] / 3600, 2)})
        print(f"{experiment}: {measured['pass_s']:.1f} s per pass, {passes} passes: "
              f"~{rows[-1]['projected_h']:.1f} h ({measured['hardware']})", flush=True)
    measured = meter.finish()
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    commit = described_commit()
    args.out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows).assign(git_commit=commit, others_share=rounded(measured["others"]),
                                      steal_share=rounded(measured["steal"]), measured_at=stamp)
    write_text_atomic(args.out / f"{args.name}.csv", frame.round(4).to_csv(index=False, lineterminator="\n"))
    cmd = " ".join(["python bench/cifar_epoch.py", *(argv if argv is not None else sys.argv[1:])])
    md = ("# cuda-convnet CIFAR-10 schedules on the CPU: one pass timed, the full schedule projected\n\n"
          f"Measured by `{cmd}` on **{rows[0]['hardware']}**, commit `{commit}`, {stamp}: one training pass "
          "of the real CIFAR-10 and its evaluation through `alexnet2012 experiment=X trainer.device=cpu "
          "trainer.epochs=1 eval.ten_crop=never`; projected hours = passes x seconds per pass (startup and the "
          "final evaluation aside). Not a run of the schedule: its numbers are owed to the GPU issues.\n\n"
          + measured["text"] + "\n\n"
          + table(["experiment", "cores, threads", "training s per pass", "s per pass with evaluation",
                   "passes in the schedule", "projected hours"],
                  [[r["experiment"], r["hardware"].rsplit("(", 1)[-1].rstrip(")"), f"{r['train_s']:.1f}",
                    f"{r['pass_s']:.1f}", r["full_passes"], f"{r['projected_h']:.1f}"] for r in rows]))
    write_text_atomic(args.out / f"{args.name}.md", md)
    print(f"wrote {args.out / args.name}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training speed of the 1989 per-example loop, per backend, into results/bench/.

    python bench/lecun1989_speed.py                      # eager 1 pass (projected), fused backends 23 passes
    python bench/lecun1989_speed.py --eager-passes 23    # eager for the whole schedule too
    python bench/lecun1989_speed.py --name lecun1989_speed_h100   # another machine's table

Every variant runs the real training path (Hydra config -> recipe ->
repro.train.fit, progress bar off) on the same data with the same seed, in one
process; ratios are against the first variant (eager, 1 thread), measured in
this same run. The CUDA variants run only where a GPU is present. Absolute
times hold only for the hardware named in the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lecun1989.cli import CONF_DIR  # noqa: E402
from lecun1989.cli import run  # noqa: E402
from repro.report.markdown import table  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402
from repro.train.environment import cpu_name, git_state  # noqa: E402

PAPER_PASSES = 23
# name: (overrides, eager?, needs a GPU). The first is the baseline of the ratios.
VARIANTS = {
    "eager, CPU, 1 thread": (["trainer.backend=eager", "trainer.threads=1"], True, False),
    "eager, CPU, 2 threads": (["trainer.backend=eager", "trainer.threads=2"], True, False),
    "fused_cpu, 1 thread": (["trainer.backend=fused_cpu", "trainer.threads=1"], False, False),
    "eager, CUDA": (["trainer.backend=eager", "trainer.device=cuda"], True, True),
    "cuda_persistent": (["trainer.backend=cuda_persistent", "trainer.device=cuda"], False, True),
}


def config_for(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="lecun1989", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)


def measure(name: str, overrides: list[str], passes: int, args) -> dict:
    extra = [f"trainer.epochs={passes}", "trainer.progress=false", f"seed={args.seed}"]
    if args.data_root:
        extra.append(f"data.root={args.data_root}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        metrics = run(config_for(overrides + extra), Path(tmp))
        wall = time.perf_counter() - t0
    sps = metrics["samples_per_s"]
    n_train = metrics["train_samples"] // passes
    row = {
        "variant": name,
        "overrides": " ".join(overrides),
        "passes_timed": passes,
        "samples_per_s": round(sps, 1),
        "train_time_s": round(metrics["train_time_s"], 3),
        "eval_time_s": round(metrics["eval_time_s"], 3),
        "wall_time_s": round(wall, 2),
        f"train_s_for_{PAPER_PASSES}_passes": round(PAPER_PASSES * n_train / sps, 3),
        f"{PAPER_PASSES}_passes_measured": passes == PAPER_PASSES,
        "train_error": metrics["final"]["train"]["error"],
        "test_error": metrics["final"]["test"]["error"],
    }
    print(f"{name}: {sps:.0f} samples/s, train {row['train_error']:.2f}% / test {row['test_error']:.2f}% "
          f"after {passes} pass(es), train time {row['train_time_s']:.2f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=PAPER_PASSES, help="passes timed for the fused backends (default 23)")
    parser.add_argument("--eager-passes", type=int, default=1, help="passes timed for the eager loops (default 1; the 23-pass time is projected)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="lecun1989_speed", help="output file stem (default lecun1989_speed)")
    parser.add_argument("--only", default=None, help="run only the variants whose name contains this text")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPRO_DATA_ROOT, else ./data)")
    args = parser.parse_args(argv)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    rows = []
    for name, (overrides, eager, needs_gpu) in VARIANTS.items():
        if args.only and args.only not in name:
            continue
        if needs_gpu and gpu is None:
            print(f"{name}: skipped (no CUDA GPU)")
            continue
        rows.append(measure(name, overrides, args.eager_passes if eager else args.passes, args))

    base = rows[0]["samples_per_s"]
    for r in rows:
        r["ratio_to_first_row"] = round(r["samples_per_s"] / base, 2)
    if not rows:
        print("no variant ran")
        return 1
    hardware = f"{cpu_name()}, {os.cpu_count()} cores" + (f"; GPU {gpu}" if gpu else "; no GPU")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    commit = str(git_state()["commit"])
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit, measured_at=stamp)

    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / f"{args.name}.csv", frame.to_csv(index=False, lineterminator="\n"))
    key = f"train_s_for_{PAPER_PASSES}_passes"
    md_rows = [[r["variant"], r["passes_timed"], f"{r['samples_per_s']:,.0f}", f"{r['ratio_to_first_row']:.2f}x",
                f"{r[key]:.2f}" + ("" if r[f"{PAPER_PASSES}_passes_measured"] else " (projected)"),
                f"{r['train_error']:.2f} / {r['test_error']:.2f}"] for r in rows]
    cmd = " ".join(["python bench/lecun1989_speed.py", *(argv if argv is not None else sys.argv[1:])])
    md = (f"# LeCun 1989 training speed by backend\n\nMeasured by `{cmd}` on **{hardware}**, torch "
          f"{torch.__version__}, commit `{commit[:10]}`, {stamp}. Per-example SGD (batch size 1) on USPS, seed "
          f"{args.seed}, the real training path with the progress bar off; time is training only (evaluation after "
          f"each pass excluded). Ratios are against the first row, measured in the same run.\n\n"
          + table(["variant", "passes timed", "train samples/s", "ratio", f"train time for {PAPER_PASSES} passes (s)",
                   "train / test error % after the timed passes"], md_rows))
    write_text_atomic(args.out / f"{args.name}.md", md)
    print(f"wrote {args.out / args.name}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

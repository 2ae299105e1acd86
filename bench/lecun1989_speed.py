"""Training speed of the 1989 per-example loop, per backend, into results/bench/.

    python bench/lecun1989_speed.py                      # eager 1 pass (projected), fused backends 23 passes
    python bench/lecun1989_speed.py --eager-passes 23    # eager for the whole schedule too
    python bench/lecun1989_speed.py --name lecun1989_speed_h100   # another machine's table
    python bench/lecun1989_speed.py --only sdlm --process-repeats 0 --name lecun1989_speed_sdlm
        # one per-trick row alone (here optim=sdlm) into its own files; the full table stays as it was

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
from repro.argtypes import count, seed  # noqa: E402  (numeric arguments checked as parsed)

from lecun1989.cli import CONF_DIR  # noqa: E402
from lecun1989.cli import run  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
import process_time  # noqa: E402  (bench/process_time.py)
from repro.report.markdown import table  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402
from repro.train.environment import cpu_name, git_state  # noqa: E402

PAPER_PASSES = 23
PROCESS_TARGET_S = 12.0  # issue 22: the main job's whole process on this 2-core machine
EVAL_TARGET = 0.10  # issue 22: evaluation of both splits, as a fraction of training time
# name: (overrides, eager?, needs a GPU). The first is the baseline of the ratios.
VARIANTS = {
    "eager, CPU, 1 thread": (["trainer.backend=eager", "trainer.threads=1"], True, False),
    "eager, CPU, 2 threads": (["trainer.backend=eager", "trainer.threads=2"], True, False),
    "fused_cpu, 1 thread": (["trainer.backend=fused_cpu", "trainer.threads=1"], False, False),
    "eager, CUDA": (["trainer.backend=eager", "trainer.device=cuda"], True, True),
    "cuda_persistent": (["trainer.backend=cuda_persistent", "trainer.device=cuda"], False, True),
}

# Per-trick rows (issue 20): each per-example trick of the 1989 catalogue, and all of
# Karpathy's together, eager against fused_cpu on one core, both measured in this run.
# more_passes and more_data change only the number of steps (the same kernel as the
# paper's row); the batched tricks (minibatch, batchnorm, mixed_precision) run eager only.
KARPATHY = "softmax_ce,adamw,augment_shift,dropout,relu,more_passes"
TRICK_ROWS = {
    "relu": ["trick=[relu]"],
    "softmax_ce": ["trick=[softmax_ce]"],
    "label_smoothing": ["trick=[softmax_ce,label_smoothing]"],
    "dropout": ["trick=[dropout]"],
    "augment_shift (fill)": ["trick=[augment_shift]"],
    "augment_shift (wrap)": ["trick=[augment_shift]", "trick.augment_shift.wrap=true"],
    "augment_distort": ["trick=[augment_distort]"],
    "adamw (linear)": ["trick=[adamw]"],
    "adamw + cosine_lr": ["trick=[adamw,cosine_lr]"],
    "adamw + one_cycle": ["trick=[adamw,one_cycle]"],
    "init_kaiming": ["trick=[init_kaiming]"],
    "init_karpathy": ["trick=[init_karpathy]"],
    "wider (x2)": ["trick=[wider]"],
    "Karpathy's six together": [f"trick=[{KARPATHY}]"],
    # Not a trick: the paper's own optimizer (issue 31), h re-estimated on 500 digits before each pass.
    "optim=sdlm (the paper's optimizer)": ["optim=sdlm"],
}
TARGET_RATIO = 15.0  # issue 20: every trick row >= 15x eager on one core


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


def trick_speed(name: str, overrides: list[str], args) -> dict:
    """One trick row: eager and fused_cpu samples/s on one thread, in this run.
    trainer.max_epochs caps the passes after the tricks (more_passes would ask for 80)."""
    sps = {}
    for backend, passes in (("eager", args.trick_eager_passes), ("fused_cpu", args.trick_fused_passes)):
        extra = [f"trainer.backend={backend}", "trainer.threads=1", f"trainer.max_epochs={passes}",
                 "trainer.progress=false", f"seed={args.seed}"] + ([f"data.root={args.data_root}"] if args.data_root else [])
        with tempfile.TemporaryDirectory() as tmp:
            metrics = run(config_for(overrides + extra), Path(tmp))
        assert metrics["backend"] == backend, metrics["backend"]
        sps[backend] = metrics["samples_per_s"]
    ratio = sps["fused_cpu"] / sps["eager"]
    print(f"{name}: eager {sps['eager']:.0f}, fused_cpu {sps['fused_cpu']:.0f} samples/s: {ratio:.1f}x", flush=True)
    return {"trick_row": name, "overrides": " ".join(overrides), "eager_samples_per_s": round(sps["eager"], 1),
            "fused_cpu_samples_per_s": round(sps["fused_cpu"], 1), "ratio": round(ratio, 2),
            "meets_15x": ratio >= TARGET_RATIO, "eager_passes_timed": args.trick_eager_passes,
            "fused_passes_timed": args.trick_fused_passes}


def whole_process_section(args, hardware: str, commit: str, stamp: str) -> str:
    """The README's main job as a user runs it (issue 22): whole process, and its parts, in its own CSV."""
    rows = process_time.measure(args.process_repeats, args.data_root, [])
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit, measured_at=stamp)
    write_text_atomic(args.out / f"{args.name}_process.csv", frame.to_csv(index=False, lineterminator="\n"))
    job = rows[-1]
    return (f"\n## Whole process: the README's main job\n\nEach command its own process, as a user types it; "
            f"median of {args.process_repeats}. Training and evaluation times come from the run's own record "
            f"(metrics.json); the rest is start-up (Python, torch, Hydra), data, model and the run record. Targets "
            f"(issue 22): whole process <= {PROCESS_TARGET_S:.0f} s (here {job['process_s']:.1f} s), evaluation <= "
            f"{100 * EVAL_TARGET:.0f}% of training (here {100 * job['eval_over_train']:.0f}%). Data: "
            f"[`{args.name}_process.csv`]({args.name}_process.csv).\n\n"
            + table(process_time.HEADER, process_time.markdown_rows(rows)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=count(), default=PAPER_PASSES, help="passes timed for the fused backends (default 23)")
    parser.add_argument("--eager-passes", type=count(), default=1, help="passes timed for the eager loops (default 1; the 23-pass time is projected)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="lecun1989_speed", help="output file stem (default lecun1989_speed)")
    parser.add_argument("--only", default=None, help="run only the variants whose name contains this text")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPRO_DATA_ROOT, else ./data)")
    parser.add_argument("--no-tricks", action="store_true", help="skip the per-trick rows")
    parser.add_argument("--trick-eager-passes", type=count(), default=1, help="passes timed per trick row, eager (default 1)")
    parser.add_argument("--trick-fused-passes", type=count(), default=3, help="passes timed per trick row, fused (default 3)")
    parser.add_argument("--process-repeats", type=count(), default=3,
                        help="whole-process timings of the README's main job, medians of this many (0: skip)")
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

    trick_rows = [] if args.no_tricks else [trick_speed(n, o, args) for n, o in TRICK_ROWS.items()
                                            if not args.only or args.only in n]
    if not rows and not trick_rows:
        print("no variant ran")
        return 1
    base = rows[0]["samples_per_s"] if rows else None
    for r in rows:
        r["ratio_to_first_row"] = round(r["samples_per_s"] / base, 2)
    hardware = f"{cpu_name()}, {os.cpu_count()} cores" + (f"; GPU {gpu}" if gpu else "; no GPU")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    commit = str(git_state()["commit"])
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit, measured_at=stamp)

    args.out.mkdir(parents=True, exist_ok=True)
    if rows:
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
          + (table(["variant", "passes timed", "train samples/s", "ratio", f"train time for {PAPER_PASSES} passes (s)",
                    "train / test error % after the timed passes"], md_rows) if rows
             else "(no backend variant in this run: `--only` selected per-trick rows alone)\n"))
    if trick_rows:
        tricks = pd.DataFrame(trick_rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit,
                                                 measured_at=stamp)
        write_text_atomic(args.out / f"{args.name}_tricks.csv", tricks.to_csv(index=False, lineterminator="\n"))
        worst = min(r["ratio"] for r in trick_rows)
        md += (f"\n## Per-trick rows: eager against fused_cpu, one core\n\nEach row: the 1989 recipe with the trick(s), "
               f"{args.trick_eager_passes} pass(es) eager and {args.trick_fused_passes} fused (`trainer.max_epochs`), "
               f"one thread each, in this run. Target: every row >= {TARGET_RATIO:.0f}x (worst here {worst:.1f}x). "
               "more_passes and more_data change only the number of steps (the paper's row above); minibatch, "
               "batchnorm and mixed_precision are batched and run eager only. Data: "
               f"[`{args.name}_tricks.csv`]({args.name}_tricks.csv).\n\n"
               + table(["trick row", "eager samples/s", "fused_cpu samples/s", "ratio"],
                       [[r["trick_row"], f"{r['eager_samples_per_s']:,.0f}", f"{r['fused_cpu_samples_per_s']:,.0f}",
                         f"{r['ratio']:.1f}x"] for r in trick_rows]))
    if args.process_repeats > 0:
        md += whole_process_section(args, hardware, commit, stamp)
    write_text_atomic(args.out / f"{args.name}.md", md)
    print(f"wrote {args.out / args.name}.csv and .md" + (f", {args.name}_tricks.csv" if trick_rows else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

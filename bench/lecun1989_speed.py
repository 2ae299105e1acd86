"""Training speed of the 1989 per-example loop, written to results/bench/.

    python bench/lecun1989_speed.py                 # 1 timed pass per variant on USPS
    python bench/lecun1989_speed.py --passes 23     # the paper's full schedule

Runs the real training path (Hydra config -> recipe -> repro.train.fit) with
the progress bar off, so what is measured is what users get. Each variant is
timed in the same process, and ratios are against the first (the default
config), measured in this same run. Absolute numbers hold only for the
hardware named in the output.
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
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lecun1989.cli import CONF_DIR  # noqa: E402
from lecun1989.experiment import run  # noqa: E402
from repro.report.markdown import table  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402
from repro.train.environment import cpu_name, git_state  # noqa: E402

VARIANTS = {
    # name: overrides. The first is the baseline of the ratios.
    "eager, 1 thread (default)": ["trainer.threads=1"],
    "eager, 2 threads": ["trainer.threads=2"],
}


def config_for(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="lecun1989", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=1, help="timed passes per variant (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPRO_DATA_ROOT, else ./data)")
    args = parser.parse_args(argv)

    rows = []
    for name, overrides in VARIANTS.items():
        extra = [f"trainer.epochs={args.passes}", "trainer.progress=false", f"seed={args.seed}"]
        if args.data_root:
            extra.append(f"data.root={args.data_root}")
        config = config_for(overrides + extra)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            metrics = run(config, Path(tmp))
            wall = time.perf_counter() - t0
        sps = metrics["samples_per_s"]
        n_train = metrics["train_samples"] // args.passes
        rows.append({
            "variant": name,
            "overrides": " ".join(overrides),
            "passes_timed": args.passes,
            "samples_per_s": round(sps, 1),
            "train_time_s": round(metrics["train_time_s"], 2),
            "wall_time_s": round(wall, 2),
            "projected_23_pass_train_s": round(23 * n_train / sps, 1),
            "test_error": metrics["final"]["test"]["error"],
        })
        print(f"{name}: {sps:.0f} samples/s, test error {rows[-1]['test_error']:.2f}% after {args.passes} pass(es)")

    base = rows[0]["samples_per_s"]
    for r in rows:
        r["ratio_to_baseline"] = round(r["samples_per_s"] / base, 3)
    hardware = f"{cpu_name()}, {os.cpu_count()} cores"
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    frame = pd.DataFrame(rows).assign(hardware=hardware, git_commit=git_state()["commit"], measured_at=stamp)

    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "lecun1989_speed.csv", frame.to_csv(index=False, lineterminator="\n"))
    md_rows = [[r["variant"], f"{r['samples_per_s']:.0f}", f"{r['ratio_to_baseline']:.2f}x",
                f"{r['projected_23_pass_train_s']:.0f}", f"{r['test_error']:.2f}"] for r in rows]
    md = (f"# LeCun 1989 training speed\n\nMeasured by `python bench/lecun1989_speed.py --passes {args.passes}` "
          f"on **{hardware}** (no GPU), torch {__import__('torch').__version__}, commit "
          f"`{str(git_state()['commit'])[:10]}`, {stamp}. Per-example SGD, batch size 1, the real training "
          f"path with the progress bar off. Ratios are against the first row, measured in the same run.\n\n"
          + table(["variant", "train samples/s", "ratio", "23 passes, projected train time (s)",
                   f"test error % after {args.passes} pass(es)"], md_rows))
    write_text_atomic(args.out / "lecun1989_speed.md", md)
    print(f"wrote {args.out / 'lecun1989_speed.csv'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training images/s of AlexNet per variant (torch path, hand-written kernels, compiled), into results/bench/.

    python bench/alexnet_step.py                          # CPU variants (and CUDA ones where a GPU is present)
    python bench/alexnet_step.py --batch 128 --steps 10   # more timed steps
    python bench/alexnet_step.py --name alexnet_step_h100 # another machine's table
    python bench/alexnet_step.py --repeats 3              # a busy CPU: 3 rounds, medians of in-round ratios

Each variant runs the real training path: Hydra config -> recipe ->
build_task -> repro.train.fit, on synthetic uint8 256x256 images held in
memory (so JPEG decoding is not what is measured), with the paper's
augmentation (random crop, flip, PCA lighting) on the training device,
forward, softmax cross-entropy, backward and the SGD-with-momentum update.
The first step (allocations, cuDNN autotuning) is excluded: images/s is
(steps - 1) x batch over the time from the end of step 1 to the end of the
last. Ratios are against the first row, measured in the same run (on a GPU,
`--only CUDA` makes "paper two_tower, CUDA fp32" the baseline row); absolute
numbers hold only for the hardware named in the output.
"""

from __future__ import annotations

import argparse
import os
import sys

# As the alexnet2012 command does (alexnet2012/cli.py), before the first tensor is allocated.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from repro.argtypes import count, seed  # noqa: E402  (numeric arguments checked as parsed)

from alexnet2012.data import ImageData  # noqa: E402
from alexnet2012.datasets import ArrayDataset  # noqa: E402
from alexnet2012.recipe import build_task, recipe_from_config  # noqa: E402
from alexnet2012.stats import compute_stats  # noqa: E402
import repro.app  # noqa: E402,F401  (registers the resolver the app configs use for the shared config folder)
from repro.report.markdown import table  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402
from repro.train.environment import cpu_name, git_state  # noqa: E402
from repro.train.loop import fit  # noqa: E402
from repro.train.record import RunDir  # noqa: E402

# name: (overrides, needs a GPU, image size). The first row is the baseline of the ratios.
VARIANTS = {
    # Before issue 22: LRN through autograd of torch's F.local_response_norm composite (avg_pool3d of the
    # squares), about half of a CPU step, and the convolutions as nn.Conv2d on NCHW input. The next row
    # has the closed-form LRN only; the third is the code's default (kernels/conv_torch.py's CPU
    # formulation too). Changes without a switch (in-place ReLU, batch gathering, huge pages) help
    # every row, the baseline included, so the ratios understate them.
    "paper two_tower, CPU fp32, before issue 22 (LRN F.local_response_norm, conv NCHW)": (
        ["model.ops.lrn=torch_composite", "model.ops.conv=torch_direct"], False, 256),
    "paper two_tower, CPU fp32, closed-form LRN, conv NCHW": (["model.ops.conv=torch_direct"], False, 256),
    "paper two_tower, CPU fp32": ([], False, 256),
    "one_tower, CPU fp32": (["model.variant=one_tower"], False, 256),
    "torchvision, CPU fp32": (["model.variant=torchvision"], False, 256),
    "two_tower split on cpu,cpu (model parallel plumbing)": (
        ["parallel.mode=towers", "parallel.tower_devices=[cpu,cpu]"], False, 256),
    "CIFAR-scale (alexnet_cifar), CPU fp32": (
        ["model=alexnet_cifar", "augment.crop=24", "data.image_size=32"], False, 32),
    "paper two_tower, CUDA fp32": (["trainer.device=cuda"], True, 256),
    "paper two_tower, CUDA bf16 autocast": (["trainer.device=cuda", "trainer.precision=bf16"], True, 256),
    "torchvision, CUDA fp32": (["trainer.device=cuda", "model.variant=torchvision"], True, 256),
    # The hand-written kernels (issue 7's end-to-end comparison): every layer custom, and the mix
    # that keeps cuDNN's convolutions; eager and through torch.compile.
    "paper two_tower, CUDA fp32, ops=custom": (["trainer.device=cuda", "model/ops=custom"], True, 256),
    "paper two_tower, CUDA bf16 autocast, ops=custom": (
        ["trainer.device=cuda", "trainer.precision=bf16", "model/ops=custom"], True, 256),
    "paper two_tower, CUDA bf16 autocast, ops=custom_cudnn_conv": (
        ["trainer.device=cuda", "trainer.precision=bf16", "model/ops=custom_cudnn_conv"], True, 256),
    "paper two_tower, CUDA bf16 autocast, compiled": (
        ["trainer.device=cuda", "trainer.precision=bf16", "trainer.compile=true"], True, 256),
    "paper two_tower, CUDA bf16 autocast, ops=custom, compiled": (
        ["trainer.device=cuda", "trainer.precision=bf16", "model/ops=custom", "trainer.compile=true"], True, 256),
    "paper two_tower, CUDA bf16 autocast, ops=custom_cudnn_conv, compiled": (
        ["trainer.device=cuda", "trainer.precision=bf16", "model/ops=custom_cudnn_conv", "trainer.compile=true"],
        True, 256),
}


def config_for(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(ROOT / "conf" / "alexnet2012"), version_base="1.3"):
        cfg = compose(config_name="alexnet2012", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)


def synthetic_data(n: int, size: int, classes: int) -> ImageData:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n) % classes
    train = ArrayDataset(images, labels, [str(k) for k in range(classes)])
    stats = compute_stats([torch.from_numpy(images[:64]).permute(0, 3, 1, 2).contiguous()])
    return ImageData("synthetic", train, train, torch.arange(n), torch.arange(min(n, 8)), stats, classes,
                     train.class_names)


def measure(name: str, overrides: list[str], size: int, args) -> dict:
    device_overrides = [] if any(o.startswith("trainer.device") for o in overrides) else ["trainer.device=cpu"]
    cfg = config_for([*overrides, *device_overrides, f"trainer.batch_size={args.batch}", "trainer.epochs=1",
                      "trainer.progress=false", "trainer.checkpoint_every_steps=0", "eval.ten_crop=never",
                      "data.workers=0", f"seed={args.seed}"])
    recipe = recipe_from_config(cfg)
    data = synthetic_data(args.batch * args.steps, size, recipe.model.num_classes)
    built = build_task(recipe, data, args.seed)
    built.task.eval_sets = {}
    built.task.finish = None
    stamps: list[float] = []

    def stamp(step: int) -> None:
        if recipe.trainer.device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        fit(built.task, recipe.trainer, RunDir(Path(tmp)), seed=args.seed, config=cfg, log=lambda s: None,
            on_step=[stamp])
    timed = stamps[-1] - stamps[0]
    ips = (len(stamps) - 1) * args.batch / timed
    row = {
        "variant": name,
        "overrides": " ".join(overrides),
        "batch": args.batch,
        "steps_timed": len(stamps) - 1,
        "images_per_s": round(ips, 2),
        "s_per_step": round(timed / (len(stamps) - 1), 4),
        "params": built.model.counts()["total"],
    }
    print(f"{name}: {ips:,.1f} images/s ({row['s_per_step']:.3f} s per step of {args.batch})", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=count(), default=128, help="images per step (paper: 128)")
    parser.add_argument("--steps", type=count(2), default=4, help="steps per variant; the first is not timed")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=count(0), default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="alexnet_step", help="output file stem (default alexnet_step)")
    parser.add_argument("--only", default=None, help="run only the variants whose name contains this text")
    parser.add_argument("--repeats", type=count(), default=1,
                        help="rounds over every variant (a shared, busy CPU drifts): each row reports the median "
                             "images/s and the median of its per-round ratios to the first row")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be >= 2 (the first step is not timed)")
    if args.threads:
        torch.set_num_threads(args.threads)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if gpu:
        torch.backends.cudnn.benchmark = True
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    chosen = []
    for name, (overrides, needs_gpu, size) in VARIANTS.items():
        if args.only and args.only not in name:
            continue
        if needs_gpu and gpu is None:
            print(f"{name}: skipped (no CUDA GPU)")
            continue
        chosen.append((name, overrides, size))
    if not chosen:
        print("no variant ran")
        return 1
    rounds = [[measure(name, overrides, size, args) for name, overrides, size in chosen] for _ in range(args.repeats)]
    rows = []
    for i, row in enumerate(rounds[0]):
        per_round = [r[i] for r in rounds]
        # Ratios within a round (the baseline measured minutes apart, not an hour), then the median.
        row = {**row, "repeats": args.repeats,
               "images_per_s": round(float(np.median([r["images_per_s"] for r in per_round])), 2),
               "s_per_step": round(float(np.median([r["s_per_step"] for r in per_round])), 4),
               "ratio_to_first_row": round(float(np.median(
                   [r[i]["images_per_s"] / r[0]["images_per_s"] for r in rounds])), 3)}
        rows.append(row)
    hardware = f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads" + (
        f"; GPU {gpu}" if gpu else "; no GPU")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    commit = str(git_state()["commit"])
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit, measured_at=stamp)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / f"{args.name}.csv", frame.to_csv(index=False, lineterminator="\n"))
    md_rows = [[r["variant"], f"{r['params']:,}", r["batch"], f"{r['steps_timed']} x {r['repeats']}",
                f"{r['images_per_s']:,.1f}", f"{r['s_per_step']:.3f}", f"{r['ratio_to_first_row']:.2f}x"] for r in rows]
    cmd = " ".join(["python bench/alexnet_step.py", *(argv if argv is not None else sys.argv[1:])])
    md = (f"# AlexNet 2012 training step, torch path\n\nMeasured by `{cmd}` on **{hardware}**, torch "
          f"{torch.__version__}, commit `{commit[:10]}`, {stamp}. Synthetic uint8 images in memory through the real "
          "training path (augmentation on the device, forward, loss, backward, SGD with momentum); the first step "
          "is not timed. Ratios are against the first row, measured in the same run: with --repeats, every "
          "variant once per round, the median of the rounds' ratios (images/s and s per step: medians). "
          f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')} (huge pages for large CPU "
          "tensors, as the alexnet2012 command sets).\n\n"
          + table(["variant", "parameters", "batch", "steps timed x rounds", "train images/s", "s per step",
                   "ratio"], md_rows))
    write_text_atomic(args.out / f"{args.name}.md", md)
    print(f"wrote {args.out / args.name}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

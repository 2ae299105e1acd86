"""Training images/s of cuda-convnet's CIFAR-10 nets on the CPU, before and after issue 32, into results/bench/.

    python bench/cifar_step.py                        # 1 torch thread, 5 rounds, before = the --baseline commit
    python bench/cifar_step.py --rounds 7 --steps 8   # more rounds / timed steps per round
    python bench/cifar_step.py --threads 2            # every row on 2 threads
    python bench/cifar_step.py --compile              # also rows through torch.compile (first step = compile time)
    python bench/cifar_step.py --only fig1_relu       # the rows whose name contains this text
    python bench/cifar_step.py --no-ceiling           # without the convolutions-alone rows

Each row is one worker process (this script with --worker) that runs the real training path
(Hydra config -> recipe -> build_task -> repro.train.fit) on synthetic uint8 32x32 images held in
memory: the recipe's input pipeline (whole images minus the mean image), forward, softmax
cross-entropy, backward and the per-layer SGD update, batch 128, fp32. A "before" row imports
the code of the ``--baseline`` commit (a ``git archive`` of it in a temporary folder), an "after"
row this working tree. All workers start, take their warm-up steps (not timed; a compiled row's
first step is its compile time), then wait: the driver lets one at a time run its timed steps, in
turn, round after round, in alternating order. A shared, busy CPU drifts, so each row's ratio is
the median over rounds of its images/s over the same net's before-row in the same round; images/s
and s per step are medians. A third row per net times its convolutions alone (forward and backward
at the after-step's shapes and calls): its ratio bounds what any change that keeps the
convolutions' arithmetic can reach. Absolute numbers hold only for the hardware named in the
output; the CPU time other processes and (on a virtual machine) other machines took meanwhile,
recorded beside them, says how busy it was.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _argtypes import count  # noqa: E402  (numeric arguments checked as parsed: repro/argtypes.py)
BASELINE = "9eede98"  # the last commit before issue 32's speed work (the Figure 1 sweep started on it)
EXPERIMENT = {"cc_fig1_relu": "figure1", "cc_fig1_tanh": "figure1", "cc_layers_18pct": "cc_layers_18pct"}
# The variants: (label, tree, extra overrides). "before" is the baseline of each net's ratios.
ROWS = [("before", "baseline", []), ("after", "current", [])]
# The ceiling: the net's convolutions alone (forward and backward, the shapes, memory order and
# oneDNN calls of the "after" step, nothing else). Its ratio to the before-row is the most any
# change that leaves the convolutions' arithmetic as it is could reach.
CEILING = ("convolutions alone (ceiling)", "current", [])
SHARED = 0.05  # above this share of CPU time to others (processes or steal), the table says the cores were shared
MARK = "@cifar_step "  # a worker's report lines start with this
COMPILED = ("after, torch.compile", "current", ["trainer.compile=true"])


# ----------------------------------------------------------------------------- worker (one row)


def synthetic_task(root: Path, model: str, threads: int, images_needed: int, overrides: list[str]):
    """The real training path of ``model`` from ``root``'s code (Hydra config -> recipe -> build_task) on
    synthetic uint8 32x32 images in memory, evaluation off: (built task, recipe, config)."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as the alexnet2012 command does
    sys.path.insert(0, str(root))
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import alexnet2012
    import repro.app  # noqa: F401  (the resolver the configs use)
    from alexnet2012.data import ImageData
    from alexnet2012.datasets import ArrayDataset
    from alexnet2012.recipe import build_task, recipe_from_config
    from alexnet2012.stats import compute_stats

    if Path(alexnet2012.__file__).resolve().parents[1] != Path(root).resolve():
        raise SystemExit(f"error: imported {alexnet2012.__file__}, not the code under {root}")
    overrides = [f"experiment={EXPERIMENT[model]}", f"model={model}", "trainer.device=cpu",
                 f"trainer.threads={threads}", "trainer.batch_size=128", "trainer.epochs=1",
                 "trainer.progress=false", "trainer.checkpoint_every_steps=0", "data.workers=0", "seed=0",
                 *overrides]
    with initialize_config_dir(config_dir=str(Path(root) / "conf" / "alexnet2012"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="alexnet2012", overrides=overrides), resolve=True)
    recipe = recipe_from_config(cfg)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (images_needed, 32, 32, 3), dtype=np.uint8)
    train = ArrayDataset(images, np.arange(len(images)) % 10, [str(k) for k in range(10)])
    stats = compute_stats([torch.from_numpy(images[:256]).permute(0, 3, 1, 2).contiguous()])
    data = ImageData("synthetic", train, train, torch.arange(len(images)), torch.arange(8), stats, 10,
                     train.class_names)
    built = build_task(recipe, data, 0)
    built.task.eval_sets, built.task.final_eval_sets, built.task.finish = {}, {}, None
    return built, recipe, cfg


def worker(args) -> int:
    """Build one net from ``args.root``'s code and train it; pause at each round boundary until the
    driver writes a line on stdin; report each round's seconds as a JSON line on stdout."""
    steps = args.warmup + args.rounds * args.steps
    built, recipe, cfg = synthetic_task(args.root, args.model, args.threads, 128 * steps, args.overrides)
    if args.convs_only:
        return convolutions_alone(built.trained, args)
    from repro.train.loop import fit  # from args.root's code (synthetic_task put it first on the path)
    from repro.train.record import RunDir

    clock = {"start": time.perf_counter()}

    def on_step(step: int) -> None:
        now = time.perf_counter()
        if step == args.warmup:
            print(MARK + json.dumps({"warmup_s": now - clock["start"]}), flush=True)
        elif step > args.warmup and (step - args.warmup) % args.steps == 0:
            print(MARK + json.dumps({"seconds": now - clock["start"]}), flush=True)
        else:
            return
        if step < steps:
            sys.stdin.readline()  # wait for our turn
            clock["start"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        fit(built.task, recipe.trainer, RunDir(Path(tmp)), seed=0, config=cfg, log=lambda s: None,
            on_step=[on_step])
    return 0


def convolutions_alone(model, args) -> int:
    """The worker of the ceiling row: each convolution of ``model`` on the input it gets in a training
    forward (captured once), forward and backward (the input's gradient where the step needs one, as
    in the step: not for the images), in the same report protocol as the training rows."""
    import torch
    from torch import nn

    captured = []
    hooks = [m.register_forward_hook(lambda m, inp, out: captured.append((m, inp[0].detach(), out.detach())))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.randn(128, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    for hook in hooks:
        hook.remove()
    if not captured:
        raise SystemExit("error: the net has no convolution layers")
    grads = [torch.randn_like(out) for _, _, out in captured]
    inputs = [x.requires_grad_(i > 0) for i, (_, x, _) in enumerate(captured)]

    def step() -> None:
        for (conv, _, _), x, g in zip(captured, inputs, grads):
            conv.zero_grad(set_to_none=True)
            x.grad = None
            conv(x).backward(g)

    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    print(MARK + json.dumps({"warmup_s": time.perf_counter() - start}), flush=True)
    for _ in range(args.rounds):
        sys.stdin.readline()  # wait for our turn
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        print(MARK + json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    return 0


# ----------------------------------------------------------------------------- driver


def baseline_tree(commit: str, into: Path) -> Path:
    """The files of ``commit`` (git archive) under ``into``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def cpu_times() -> list[int]:
    """The machine's CPU time counters (/proc/stat's first line; empty where there is none)."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return []


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished (waited-for) workers."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))


def shares(before: list[int], after: list[int], own_seconds: float) -> tuple[float | None, float | None]:
    """Between two ``cpu_times``: the share of all CPU time that other processes on this machine used
    (busy time less the bench's own ``own_seconds``) and the share the hypervisor gave to other
    machines (steal, the 8th counter: on a virtual machine, the noise a busy host adds to every row)."""
    if len(before) < 8 or len(after) < 8:
        return None, None
    delta = [a - b for a, b in zip(after, before)]
    total = sum(delta[:8])  # guest time is already counted in user time
    if total <= 0:
        return None, None
    busy = total - delta[3] - delta[4] - delta[7]  # less idle, iowait and steal
    others = max(0.0, busy - own_seconds * os.sysconf("SC_CLK_TCK")) / total
    return others, delta[7] / total


def contention(load_start: float, load_end: float, others: float | None, steal: float | None, wall: float) -> str:
    """What else the machine ran while the bench did, from the numbers (never a fixed sentence)."""
    def pct(share: float | None) -> str:
        return "not available" if share is None else f"{100 * share:.1f}%"

    text = (f"**Contention:** of all CPU time while the bench ran, other processes on this machine used "
            f"{pct(others)} and the host gave {pct(steal)} to other machines (steal); 1-minute load average "
            f"{load_start:.2f} before the bench, {load_end:.2f} at its end (its own workers included); it took "
            f"{wall / 60:.1f} min. ")
    if others is None or steal is None:
        return text + "Without /proc/stat the bench cannot tell how idle the machine was."
    if max(others, steal) > SHARED:
        return text + ("Other work shared the cores: absolute images/s are depressed and noisy; the same-round "
                       "ratios are the result.")
    return text + "The machine was otherwise close to idle."


class ContentionMeter:
    """Counts from its creation what else the machine runs; ``finish()`` gives the shares (``shares``),
    the load average at both ends, the wall time and the sentence (``contention``) for the output."""

    def __init__(self) -> None:
        self.load_start, self.cpu, self.own = os.getloadavg()[0], cpu_times(), own_cpu_seconds()
        self.started = time.perf_counter()

    def finish(self) -> dict:
        wall, load_end = time.perf_counter() - self.started, os.getloadavg()[0]
        others, steal = shares(self.cpu, cpu_times(), own_cpu_seconds() - self.own)
        return {"load_start": self.load_start, "load_end": load_end, "others": others, "steal": steal,
                "wall_s": wall, "text": contention(self.load_start, load_end, others, steal, wall)}


def rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 4)


def described_commit() -> str:
    """This checkout's commit, marked when the tree has uncommitted changes."""
    sys.path.insert(0, str(ROOT))
    from repro.train.environment import git_state

    state = git_state()
    return f"{state['commit']}{' (uncommitted changes)' if state.get('dirty') else ''}"


def start(label: str, model: str, root: Path, overrides: list[str], args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--root", str(root), "--model", model,
           "--threads", str(args.threads), "--steps", str(args.steps), "--rounds", str(args.rounds),
           "--warmup", str(args.warmup), *[f"--override={o}" for o in overrides],
           *(["--convs-only"] if label == CEILING[0] else [])]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return {"variant": f"{model}, {label}", "model": model, "label": label, "overrides": " ".join(overrides),
            "proc": proc, "seconds": []}


def read(row: dict) -> dict:
    """The worker's next report (other output passes through)."""
    while True:
        line = row["proc"].stdout.readline()
        if not line:
            raise SystemExit(f"error: the worker for {row['variant']} ended early (exit {row['proc'].wait()})")
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
        print(line, end="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=count(), default=5)
    parser.add_argument("--steps", type=count(), default=6, help="timed steps per row per round")
    parser.add_argument("--warmup", type=count(), default=2, help="untimed steps before the first round")
    parser.add_argument("--threads", type=count(), default=1, help="torch CPU threads in every row")
    parser.add_argument("--baseline", default=BASELINE, help="the commit whose code the before-rows run")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile rows")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="leave out the convolutions-alone rows")
    parser.add_argument("--only", default=None, help="only the nets whose name contains this text")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="cifar_step", help="output file stem")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="", help=argparse.SUPPRESS)
    parser.add_argument("--override", dest="overrides", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--convs-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.rounds, args.steps, args.warmup, args.threads) < 1:
        parser.error("--rounds, --steps, --warmup and --threads must be >= 1")
    if args.worker:
        return worker(args)

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from repro.report.markdown import table
    from repro.train.atomic import write_text_atomic
    from repro.train.environment import cpu_name

    nets = [m for m in EXPERIMENT if not args.only or args.only in m]
    if not nets:
        parser.error(f"--only {args.only!r} matches none of {list(EXPERIMENT)}")
    variants = ROWS + ([COMPILED] if args.compile else []) + ([CEILING] if args.ceiling else [])
    meter = ContentionMeter()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"baseline": baseline_tree(args.baseline, Path(tmp)), "current": ROOT}
        rows = [start(label, m, trees[tree], overrides, args) for m in nets for label, tree, overrides in variants]
        try:
            for row in rows:  # all warm up, one after another
                row["warmup_s"] = read(row)["warmup_s"]
                print(f"{row['variant']}: warm ({row['warmup_s']:.1f} s for {args.warmup} steps)", flush=True)
            for r in range(args.rounds):
                for row in rows if r % 2 == 0 else rows[::-1]:
                    row["proc"].stdin.write("go\n")
                    row["proc"].stdin.flush()
                    row["seconds"].append(read(row)["seconds"])
                print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{row['variant']} {128 * args.steps / row['seconds'][-1]:.1f}" for row in rows), flush=True)
            for row in rows:  # each has run its last round and ends the pass
                row["proc"].wait(timeout=300)
        finally:
            for row in rows:  # only after an error or Ctrl-C: the workers would go on training
                if row["proc"].poll() is None:
                    row["proc"].kill()
                    row["proc"].wait()
    measured = meter.finish()

    out = []
    for row in rows:
        before = next(b for b in rows if b["model"] == row["model"] and b["label"] == "before")
        ips = [128 * args.steps / s for s in row["seconds"]]
        ratios = [b / s for s, b in zip(row["seconds"], before["seconds"])]  # same round, same step count
        out.append({"variant": row["variant"], "model": row["model"], "code": row["label"],
                    "overrides": row["overrides"], "batch": 128, "threads": args.threads,
                    "steps_timed": args.steps, "rounds": args.rounds,
                    "images_per_s": round(float(np.median(ips)), 2),
                    "s_per_step": round(float(np.median(row["seconds"])) / args.steps, 4),
                    "ratio_to_before": round(float(np.median(ratios)), 3),
                    "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
                    "warmup_s": round(row["warmup_s"], 2)})
    hardware = f"{cpu_name()}, {os.cpu_count()} cores, {args.threads} torch thread(s) per row; no GPU used"
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    commit = described_commit()
    import torch

    frame = pd.DataFrame(out).assign(hardware=hardware, torch=torch.__version__, baseline=args.baseline,
                                     git_commit=commit, load_start=round(measured["load_start"], 2),
                                     load_end=round(measured["load_end"], 2),
                                     others_share=rounded(measured["others"]), steal_share=rounded(measured["steal"]),
                                     measured_at=stamp)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / f"{args.name}.csv", frame.to_csv(index=False, lineterminator="\n"))
    md_rows = [[r["variant"], r["threads"], f"{r['steps_timed']} x {r['rounds']}", f"{r['images_per_s']:,.1f}",
                f"{r['s_per_step']:.3f}", f"{r['ratio_to_before']:.2f}x ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})",
                f"{r['warmup_s']:.1f}"] for r in out]
    cmd = " ".join(["python bench/cifar_step.py", *(argv if argv is not None else sys.argv[1:])])
    md = (f"# cuda-convnet CIFAR-10 nets, CPU training step, before and after issue 32\n\n"
          f"Measured by `{cmd}` on **{hardware}**, torch {torch.__version__}, commit `{commit}`, {stamp}. "
          f"\"before\" runs the code of commit `{args.baseline}`, \"after\" this tree. Synthetic uint8 32x32 images "
          "in memory through the real training path (whole images minus the mean image, forward, loss, backward, "
          "per-layer SGD), batch 128, fp32. Every row is its own process; after the warm-up they take turns, one "
          "row's timed steps at a time, in alternating order each round. The \"convolutions alone\" row times "
          "only the net's convolutions (forward, and backward as the step needs it) at the after-step's shapes, "
          "memory order and calls: its ratio is the ceiling of any change that leaves their arithmetic as it is. "
          "Ratios: the median over rounds of the row's images/s over its net's before-row in the same round "
          "(min-max in brackets); images/s and s per step are medians. The warm-up column is the first steps' "
          "wall time (a compiled row's compile time).\n\n"
          + measured["text"] + "\n\n"
          + table(["variant", "threads", "steps timed x rounds", "train images/s", "s per step",
                   "ratio to before", "warm-up s"], md_rows))
    write_text_atomic(args.out / f"{args.name}.md", md)
    print(f"wrote {args.out / args.name}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

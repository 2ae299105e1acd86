"""Where a CPU training step of cuda-convnet's CIFAR-10 nets spends its time, by kind of op.

    python bench/cifar_profile.py                  # the three nets of issue 32, 1 torch thread, 12 steps
    python bench/cifar_profile.py --threads 2 --steps 20

Each net trains on synthetic uint8 32x32 images through the real training path (the same set-up as
bench/cifar_step.py's rows: input pipeline, forward, loss, backward, per-layer SGD, batch 128, fp32)
under torch.profiler, after warm-up steps. Every op's own (self) CPU time goes to one kind by its name
(KINDS below, first match); the table gives milliseconds per step and the share of the step's profiled
time. Names are all the profiler knows: the same-map norm's window sums are average pools, so they
count under "average pooling", and its other arithmetic under "other elementwise".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _argtypes import count  # noqa: E402  (numeric arguments checked as parsed: repro/argtypes.py)
from cifar_step import EXPERIMENT, described_commit, synthetic_task  # noqa: E402

# (kind, name fragments): an op goes to the first kind one of whose fragments its name contains.
KINDS = [
    ("convolution, backward", ("convolution_backward", "ConvolutionBackward")),  # before "aten::convolution"
    ("convolution, forward", ("mkldnn_convolution", "aten::convolution", "aten::_convolution", "conv2d")),
    ("max pooling", ("max_pool2d",)),
    ("average pooling (and the norm's window sums)", ("avg_pool2d",)),
    ("ReLU / tanh", ("relu", "threshold_backward", "clamp_min", "tanh")),
    ("fully connected", ("aten::addmm", "aten::mm", "aten::linear", "AddmmBackward", "MmBackward")),
    ("loss", ("log_softmax", "nll_loss", "cross_entropy")),
    ("update (SGD, zero_grad)", ("Optimizer.", "_fused_sgd", "sgd", "AccumulateGrad")),
    ("input pipeline (batches, mean)", ("DataLoader", "aten::sub", "aten::index", "aten::stack", "to_dtype",
                                         "aten::_to_copy")),
    ("fills and copies", ("aten::fill_", "aten::zero_", "aten::copy_", "aten::clone", "aten::contiguous")),
    ("other elementwise", ("aten::mul", "aten::add", "aten::div", "aten::pow", "aten::rsqrt", "aten::sqrt",
                           "aten::addcmul", "aten::sum", "aten::neg", "aten::reciprocal", "Backward")),
]
OTHER = "everything else (allocation, dispatch, autograd)"


def kind_of(name: str) -> str:
    for kind, fragments in KINDS:
        if any(f in name for f in fragments):
            return kind
    return OTHER


def profile_net(model: str, threads: int, warmup: int, steps: int) -> tuple[dict[str, float], float]:
    """ms per step by kind, and the step's wall ms outside the profiler (same steps, timed first)."""
    from torch.profiler import ProfilerActivity, profile

    from repro.train.loop import fit
    from repro.train.record import RunDir

    total_steps = warmup + 2 * steps
    built, recipe, cfg = synthetic_task(ROOT, model, threads, 128 * total_steps, [])
    state: dict = {"prof": None, "t": None}

    def on_step(step: int) -> None:
        if step == warmup:
            state["t"] = time.perf_counter()
        elif step == warmup + steps:
            state["wall_ms"] = 1000 * (time.perf_counter() - state["t"]) / steps
            state["prof"] = profile(activities=[ProfilerActivity.CPU])
            state["prof"].__enter__()
        elif step == total_steps:
            state["prof"].__exit__(None, None, None)

    with tempfile.TemporaryDirectory() as tmp:
        fit(built.task, recipe.trainer, RunDir(Path(tmp)), seed=0, config=cfg, log=lambda s: None,
            on_step=[on_step])
    by_kind: dict[str, float] = {}
    for event in state["prof"].key_averages():
        kind = kind_of(event.key)
        by_kind[kind] = by_kind.get(kind, 0.0) + event.self_cpu_time_total / 1000 / steps
    return by_kind, state["wall_ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", nargs="+", default=list(EXPERIMENT), choices=list(EXPERIMENT))
    parser.add_argument("--threads", type=count(), default=1)
    parser.add_argument("--warmup", type=count(), default=3)
    parser.add_argument("--steps", type=count(), default=12, help="steps timed, then as many profiled")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="cifar_profile", help="output file stem")
    args = parser.parse_args(argv)
    if min(args.threads, args.warmup, args.steps) < 1:
        parser.error("--threads, --warmup and --steps must be >= 1")

    import pandas as pd

    from repro.report.markdown import table
    from repro.train.atomic import write_text_atomic
    from repro.train.environment import cpu_name

    rows = []
    for net in args.nets:
        by_kind, wall_ms = profile_net(net, args.threads, args.warmup, args.steps)
        profiled = sum(by_kind.values())
        for kind in [k for k, _ in KINDS] + [OTHER]:
            rows.append({"net": net, "kind": kind, "ms_per_step": round(by_kind.get(kind, 0.0), 2),
                         "share": round(by_kind.get(kind, 0.0) / profiled, 4), "profiled_ms_per_step": round(
                             profiled, 1), "unprofiled_wall_ms_per_step": round(wall_ms, 1)})
        print(f"{net}: {profiled:.1f} ms per step profiled, {wall_ms:.1f} ms unprofiled", flush=True)
    import torch

    commit = described_commit()
    hardware = f"{cpu_name()}, {torch.get_num_threads()} torch thread(s); no GPU used"
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit,
                                      measured_at=stamp)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / f"{args.name}.csv", frame.to_csv(index=False, lineterminator="\n"))
    kinds = [k for k, _ in KINDS] + [OTHER]
    header = ["kind of op"] + [f"{net}: ms per step (share)" for net in args.nets]
    body = []
    for kind in kinds:
        cells = [f"{r['ms_per_step']:.1f} ({100 * r['share']:.0f}%)" for net in args.nets
                 for r in rows if r["net"] == net and r["kind"] == kind]
        body.append([kind, *cells])
    totals = {net: next(r for r in rows if r["net"] == net) for net in args.nets}
    body.append(["**profiled step**", *[f"{totals[n]['profiled_ms_per_step']:.1f}" for n in args.nets]])
    body.append(["step without the profiler",
                 *[f"{totals[n]['unprofiled_wall_ms_per_step']:.1f}" for n in args.nets]])
    cmd = " ".join(["python bench/cifar_profile.py", *(argv if argv is not None else sys.argv[1:])])
    md = ("# cuda-convnet CIFAR-10 nets: where a CPU training step goes, by kind of op\n\n"
          f"Measured by `{cmd}` on **{hardware}**, torch {torch.__version__}, commit `{commit}`, {stamp}: "
          f"{args.steps} steps timed, then {args.steps} under torch.profiler, after {args.warmup} warm-up steps; "
          "synthetic images through the real training path, batch 128, fp32. Each op's own CPU time goes to the "
          "first kind its name matches (bench/cifar_profile.py, `KINDS`): the same-map norm's window sums are "
          "average pools, its other arithmetic \"other elementwise\". The profiler's own overhead is in the "
          "difference between the last two rows.\n\n" + table(header, body))
    write_text_atomic(args.out / f"{args.name}.md", md)
    print(f"wrote {args.out / args.name}.csv and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The hand-written AlexNet kernels against the PyTorch ops they replace, at AlexNet's shapes.

    python bench/kernels.py                       # on the GPU: results/bench/kernels.{csv,md,png}
    python bench/kernels.py --dtype bf16          # one dtype only (default: fp32 and bf16)
    python bench/kernels.py --device cpu --batch 2 --reps 2 --out /tmp/k   # a smoke run of the CPU path

Every row times one layer of the paper's network (batch 128, two towers) twice
in the same run: our op (torch.ops.repro_alexnet) and the PyTorch baseline it
replaces, forward alone and forward + backward. LRN's baseline is the torch
path's LRN (torch.nn.functional.local_response_norm, the function behind
torch.nn.LocalResponseNorm, per tower); pooling's F.max_pool2d; bias + ReLU's
F.relu(x + b) (and, in a second row, F.relu alone: the cost when cuDNN adds
the bias inside the convolution); dropout's F.dropout; the loss's
F.cross_entropy. Times are medians of --reps CUDA-event-timed repetitions after
--warmup untimed ones; speedup = baseline time / our time. Absolute times hold
only for the hardware named in the output.

The convolutions get a table of their own (<name>_conv.{csv,md}): each of the
paper's five conv layers, forward, backward-data and backward-weight, ours
against cuDNN (through torch: F.conv2d and aten.convolution_backward), and
the sum over the passes training runs (conv1 has no data gradient: its input
is the image), i.e. our throughput as a fraction of cuDNN's. fp32 compares
true fp32 (cuDNN's TF32 switched off); bf16 compares tensor cores with tensor
cores. `--conv-only` skips the other ops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from repro.argtypes import count  # noqa: E402  (numeric arguments checked as parsed)

from alexnet2012.kernels.bias_relu import bias_relu  # noqa: E402
from alexnet2012.kernels.dropout import dropout  # noqa: E402
from alexnet2012.kernels.library import OPS, ensure_built  # noqa: E402
from alexnet2012.kernels.lrn import LocalResponseNorm, lrn  # noqa: E402
from alexnet2012.kernels.maxpool import max_pool  # noqa: E402
from alexnet2012.kernels.softmax_xent import softmax_cross_entropy  # noqa: E402
from repro.report.markdown import table  # noqa: E402
from repro.train.atomic import write_text_atomic  # noqa: E402
from repro.train.environment import cpu_name, git_state  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class Case:
    name: str  # the layer, as in the paper's network
    op: str  # the op family
    shape: tuple[int, ...]
    ours: Callable[[torch.Tensor], torch.Tensor]
    baseline: Callable[[torch.Tensor], torch.Tensor]
    baseline_name: str
    positive: bool = False  # inputs after a ReLU (LRN, pooling)
    labels: bool = False  # the loss: second input = labels
    leaves: Callable[[], list[torch.Tensor]] = list  # parameters whose gradients backward computes too


def cases(batch: int) -> list[Case]:
    lrn_torch = LocalResponseNorm(5, 1e-4, 0.75, 2.0, groups=2)
    out: list[Case] = []
    for name, shape in (("norm1 (after conv1)", (batch, 96, 55, 55)), ("norm2 (after conv2)", (batch, 256, 27, 27))):
        out.append(Case(name, "lrn", shape, lambda x: lrn(x, 5, 1e-4, 0.75, 2.0, 2), lrn_torch,
                        "F.local_response_norm (nn.LocalResponseNorm)", positive=True))
    for name, shape in (("pool1", (batch, 96, 55, 55)), ("pool2", (batch, 256, 27, 27)), ("pool5", (batch, 256, 13, 13))):
        out.append(Case(name, "max_pool 3x3/2", shape, lambda x: max_pool(x, 3, 2), lambda x: F.max_pool2d(x, 3, 2),
                        "F.max_pool2d", positive=True))
    for name, shape in (("conv1 out", (batch, 96, 55, 55)), ("conv2 out", (batch, 256, 27, 27)),
                        ("conv3 out", (batch, 384, 13, 13)), ("conv5 out", (batch, 256, 13, 13)),
                        ("fc6 out", (batch, 4096))):
        channels = shape[1]
        bias = {}

        def b(x, channels=channels, bias=bias):
            key = (x.device, x.dtype)
            if key not in bias:
                bias[key] = torch.randn(channels, device=x.device, requires_grad=True)
            return bias[key]

        view = (1, -1) + (1,) * (len(shape) - 2)
        leaves = (lambda bias=bias: list(bias.values()))
        out.append(Case(name, "bias + ReLU", shape, lambda x, b=b: bias_relu(x, b(x)),
                        lambda x, b=b, view=view: F.relu(x + b(x).to(x.dtype).view(view)), "F.relu(x + b)",
                        leaves=leaves))
        out.append(Case(name, "ReLU (bias in conv)", shape, lambda x, b=b: bias_relu(x, b(x)), F.relu, "F.relu",
                        leaves=leaves))
    for name in ("drop6", "drop7"):
        out.append(Case(name, "dropout 0.5", (batch, 4096), lambda x: dropout(x, 0.5, 1234),
                        lambda x: F.dropout(x, 0.5, training=True), "F.dropout"))
    out.append(Case("fc8 loss", "softmax + cross-entropy", (batch, 1000),
                    lambda x, y=None: softmax_cross_entropy(x, y), lambda x, y=None: F.cross_entropy(x, y),
                    "F.cross_entropy", labels=True))
    return out


# The paper's conv layers: (name, C_in, H=W, C_out, k, stride, padding, groups), input 224 (conv1 padding 2).
CONV_LAYERS = (
    ("conv1", 3, 224, 96, 11, 4, 2, 1),
    ("conv2", 96, 27, 256, 5, 1, 2, 2),
    ("conv3", 256, 13, 384, 3, 1, 1, 1),
    ("conv4", 384, 13, 384, 3, 1, 1, 2),
    ("conv5", 384, 13, 256, 3, 1, 1, 2),
)


def conv_rows(batch: int, dtype: torch.dtype, device: torch.device, args) -> list[dict]:
    """Each conv layer's three passes, ours against cuDNN, timed in the same run."""
    ensure_built()
    ours_ops, aten = OPS, torch.ops.aten
    g = torch.Generator().manual_seed(0)
    rows = []
    for name, cin, size, cout, k, stride, pad, groups in CONV_LAYERS:
        out_size = (size + 2 * pad - k) // stride + 1
        x = torch.randn(batch, cin, size, size, generator=g).to(device, dtype)
        w = (torch.randn(cout, cin // groups, k, k, generator=g) * 0.01).to(device, dtype)
        b = torch.randn(cout, generator=g).to(device, dtype)
        dy = torch.randn(batch, cout, out_size, out_size, generator=g).to(device, dtype)
        flops = 2.0 * batch * cout * out_size * out_size * (cin // groups) * k * k

        def cudnn_backward(mask):
            return lambda: aten.convolution_backward(dy, x, w, [cout], [stride] * 2, [pad] * 2, [1, 1], False, [0, 0],
                                                     groups, mask)

        passes = {
            "forward": (lambda: ours_ops.conv_forward(x, w, b, stride, pad, groups, False),
                        lambda: F.conv2d(x, w, b, stride, pad, 1, groups)),
            "backward data": (lambda: ours_ops.conv_backward_data(dy, w, size, size, stride, pad, groups),
                              cudnn_backward([True, False, False])),
            "backward weight": (lambda: ours_ops.conv_backward_weight(dy, x, k, stride, pad, groups),
                                cudnn_backward([False, True, False])),
        }
        for label, (ours_fn, cudnn_fn) in passes.items():
            with torch.no_grad():
                ours = timer(device, ours_fn, args.warmup, args.reps)
                base = timer(device, cudnn_fn, args.warmup, args.reps)
            trained = not (name == "conv1" and label == "backward data")
            rows.append({"layer": name, "pass": label, "in_training": trained,
                         "shape": f"{batch}x{cin}x{size}x{size} * {cout}x{cin // groups}x{k}x{k} /{stride} pad {pad}"
                                  f" groups {groups}",
                         "dtype": str(dtype).replace("torch.", ""), "ours_us": round(ours * 1e6, 1),
                         "cudnn_us": round(base * 1e6, 1), "ours_tflops": float(f"{flops / ours / 1e12:.4g}"),
                         "cudnn_tflops": float(f"{flops / base / 1e12:.4g}"), "ours_vs_cudnn": round(base / ours, 3)})
            print(f"{name} {label:16s} {rows[-1]['dtype']:8s} ours {ours * 1e6:9,.0f} us  cuDNN {base * 1e6:9,.0f} us  "
                  f"({base / ours:.2f}x)", flush=True)
    return rows


def write_conv_tables(rows: list[dict], hardware: str, commit: str, stamp: str, cmd: str, args) -> None:
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit,
                                      measured_at=stamp, reps=args.reps)
    write_text_atomic(args.out / f"{args.name}_conv.csv", frame.to_csv(index=False, lineterminator="\n"))
    md_rows = [[r["layer"], r["pass"] + ("" if r["in_training"] else " (not in training)"), r["dtype"],
                f"{r['ours_us']:,.1f} / {r['cudnn_us']:,.1f}", f"{r['ours_tflops']:.3g} / {r['cudnn_tflops']:.3g}",
                f"{r['ours_vs_cudnn']:.2f}x"] for r in rows]
    sums = []
    for dtype, part in frame[frame["in_training"]].groupby("dtype", sort=False):
        ours, cudnn = part["ours_us"].sum(), part["cudnn_us"].sum()
        sums.append([dtype, f"{ours:,.0f}", f"{cudnn:,.0f}", f"{cudnn / ours:.1%}"])
    md = (f"# AlexNet's convolutions: our implicit-GEMM kernels against cuDNN\n\nMeasured by `{cmd}` on "
          f"**{hardware}**, torch {torch.__version__}, commit `{commit[:10]}`, {stamp}. Batch {args.batch}; median of "
          f"{args.reps} timed repetitions after {args.warmup} warm-up ones, ours and cuDNN in the same run. fp32 rows "
          "compare true fp32 (cuDNN's TF32 off); bf16 rows use tensor cores on both sides.\n\n"
          + table(["layer", "pass", "dtype", "µs (ours / cuDNN)", "TFLOP/s (ours / cuDNN)", "cuDNN time / ours"],
                  md_rows)
          + "\n## Summed over the network's forward and backward (the passes training runs)\n\n"
          + table(["dtype", "ours µs", "cuDNN µs", "our throughput as a share of cuDNN's (target ≥ 70%)"], sums))
    write_text_atomic(args.out / f"{args.name}_conv.md", md)


def timer(device: torch.device, fn: Callable[[], None], warmup: int, reps: int) -> float:
    """Median seconds of fn() over reps repetitions."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(case: Case, dtype: torch.dtype, device: torch.device, args) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(case.shape, generator=g) * 10
    if case.positive:
        x = x.clamp_min(0)
    x = x.to(device, dtype).requires_grad_()
    extra = ()
    if case.labels:
        extra = (torch.randint(0, case.shape[1], (case.shape[0],), generator=g).to(device),)

    def forward(fn):
        def run():
            with torch.no_grad():
                fn(x, *extra)
        return run

    def forward_backward(fn):
        cache: dict[str, torch.Tensor] = {}

        def run():
            y = fn(x, *extra)
            if "grad" not in cache:  # one upstream gradient of the output's shape, drawn once
                cache["grad"] = torch.randn(y.shape, generator=g).to(device, y.dtype)
            for leaf in (x, *case.leaves()):
                leaf.grad = None  # every repetition computes fresh gradients, none accumulates
            y.backward(cache["grad"])
        return run

    row = {"layer": case.name, "op": case.op, "shape": "x".join(map(str, case.shape)),
           "dtype": str(dtype).replace("torch.", ""), "baseline": case.baseline_name}
    for label, make in (("fwd", forward), ("fwd+bwd", forward_backward)):
        ours = timer(device, make(case.ours), args.warmup, args.reps)
        try:
            base = timer(device, make(case.baseline), args.warmup, args.reps)
        except NotImplementedError:  # e.g. torch's LRN has no bf16 CPU kernel
            base = float("nan")
        row[f"{label}_ours_us"] = round(ours * 1e6, 1)
        row[f"{label}_baseline_us"] = round(base * 1e6, 1)
        row[f"{label}_speedup"] = round(base / ours, 3)
    print(f"{case.name:22s} {case.op:26s} {row['dtype']:8s} fwd {row['fwd_speedup']:6.2f}x  "
          f"fwd+bwd {row['fwd+bwd_speedup']:6.2f}x  ({row['fwd+bwd_ours_us']:,.0f} vs {row['fwd+bwd_baseline_us']:,.0f} us)",
          flush=True)
    return row


def chart(frame: pd.DataFrame, hardware: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.layer}\n{r.op} ({r.dtype})" for r in frame.itertuples()]
    y = range(len(frame))
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(frame) + 1.5))
    ax.barh([i + 0.2 for i in y], frame["fwd_speedup"], height=0.4, label="forward")
    ax.barh([i - 0.2 for i in y], frame["fwd+bwd_speedup"], height=0.4, label="forward + backward")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(list(y), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speedup over the PyTorch op (baseline time / our time, log scale)")
    ax.set_title(f"AlexNet kernels vs PyTorch, batch {frame['shape'].iloc[0].split('x')[0]}\n{hardware}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=count(), default=128, help="images per batch (paper: 128)")
    parser.add_argument("--dtype", choices=[*DTYPES, "all"], default="all")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (a smoke run of the CPU path)")
    parser.add_argument("--warmup", type=count(0), default=10)
    parser.add_argument("--reps", type=count(), default=50)
    parser.add_argument("--only", default=None, help="only the rows whose layer or op contains this text")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--name", default="kernels", help="output file stem")
    parser.add_argument("--conv-only", action="store_true", help="only the convolution table")
    parser.add_argument("--no-conv", action="store_true", help="skip the convolution table")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU here; the kernels' speed is a GPU measurement (--device cpu for a smoke run)",
              file=sys.stderr)
        return 2
    dtypes = list(DTYPES.values()) if args.dtype == "all" else [DTYPES[args.dtype]]
    if device.type == "cuda":
        hardware = f"GPU {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        hardware = f"CPU {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (smoke run)"
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    commit = str(git_state()["commit"])
    cmd = " ".join(["python bench/kernels.py", *(argv if argv is not None else sys.argv[1:])])
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_conv:
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False  # fp32 against fp32
        try:
            conv = [r for dt in dtypes for r in conv_rows(args.batch, dt, device, args)]
        finally:
            torch.backends.cudnn.allow_tf32 = tf32
        write_conv_tables(conv, hardware, commit, stamp, cmd, args)
        print(f"wrote {args.out / args.name}_conv.csv and .md")
        if args.conv_only:
            return 0
    rows = [measure(c, dt, device, args) for dt in dtypes for c in cases(args.batch)
            if args.only is None or args.only in c.name or args.only in c.op]
    frame = pd.DataFrame(rows).assign(hardware=hardware, torch=torch.__version__, git_commit=commit,
                                      measured_at=stamp, reps=args.reps)
    write_text_atomic(args.out / f"{args.name}.csv", frame.to_csv(index=False, lineterminator="\n"))
    def speedup(v: float) -> str:
        return "n/a (no baseline kernel)" if v != v else f"{v:.2f}x"

    md_rows = [[r["layer"], r["op"], r["shape"], r["dtype"], r["baseline"],
                f"{r['fwd_ours_us']:,.1f} / {r['fwd_baseline_us']:,.1f}", speedup(r["fwd_speedup"]),
                f"{r['fwd+bwd_ours_us']:,.1f} / {r['fwd+bwd_baseline_us']:,.1f}", speedup(r["fwd+bwd_speedup"])]
               for r in rows]
    md = (f"# AlexNet kernels against PyTorch\n\nMeasured by `{cmd}` on **{hardware}**, torch {torch.__version__}, "
          f"commit `{commit[:10]}`, {stamp}. Median of {args.reps} timed repetitions after {args.warmup} warm-up "
          "ones, ours and the baseline in the same run; speedup = baseline time / our time.\n\n"
          + table(["layer", "op", "shape", "dtype", "baseline", "fwd µs (ours / baseline)", "fwd speedup",
                   "fwd+bwd µs (ours / baseline)", "fwd+bwd speedup"], md_rows)
          + f"\n![speedups]({args.name}.png)\n")
    write_text_atomic(args.out / f"{args.name}.md", md)
    chart(frame, hardware, args.out / f"{args.name}.png")
    print(f"wrote {args.out / args.name}.csv, .md and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

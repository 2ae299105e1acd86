"""A short fused-vs-eager check, small enough to run under compute-sanitizer.

    python -m lecun1989.fused.selfcheck --backend cuda_persistent --steps 64
    compute-sanitizer --tool memcheck python -m lecun1989.fused.selfcheck --steps 64

Runs `--steps` per-example SGD steps on random digits with the eager model and
with the backend, and exits 1 if any weight differs by more than --atol.
"""

from __future__ import annotations

import argparse
import sys

import torch

from lecun1989.loss import mse_pm1
from lecun1989.model import ModelConfig, build_model

from .stepper import fused_steps

PARAMS = ("h1_w", "h1_b", "h2_w", "h2_b", "h3_w", "h3_b", "out_w", "out_b")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cuda_persistent", choices=["fused_cpu", "cuda_persistent"])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--atol", type=float, default=2e-6)
    args = parser.parse_args(argv)
    device = "cuda" if args.backend == "cuda_persistent" else "cpu"
    g = torch.Generator().manual_seed(0)
    xs = torch.rand(args.steps, 1, 16, 16, generator=g) * 2 - 1
    ys = torch.randint(0, 10, (args.steps,), generator=g)

    reference = build_model(ModelConfig(), 0)
    opt = torch.optim.SGD(reference.parameters(), lr=0.03)
    for i in range(args.steps):
        loss = mse_pm1(reference(xs[i : i + 1]), ys[i : i + 1])
        opt.zero_grad()
        loss.backward()
        opt.step()

    model = build_model(ModelConfig(), 0).to(device)
    step = fused_steps(args.backend, model, torch.optim.SGD(model.parameters(), lr=0.03), "mse", 1)
    step(xs.to(device), ys.to(device))
    if device == "cuda":
        torch.cuda.synchronize()
    worst = max((getattr(reference, k) - getattr(model, k).cpu()).abs().max().item() for k in PARAMS)
    print(f"{args.backend}: {args.steps} steps, max |weight difference| to eager {worst:.2e} (atol {args.atol:.0e})")
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())

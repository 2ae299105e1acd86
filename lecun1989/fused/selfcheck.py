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

from lecun1989.model import ModelConfig, build_model

from .reference import eager_pass, max_weight_difference
from .stepper import fused_steps


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
    eager_pass(reference, xs, ys)

    model = build_model(ModelConfig(), 0).to(device)
    step = fused_steps(args.backend, model, torch.optim.SGD(model.parameters(), lr=0.03), "mse", 1)
    step(xs.to(device), ys.to(device))
    if device == "cuda":
        torch.cuda.synchronize()
    worst = max_weight_difference(reference, model)
    print(f"{args.backend}: {args.steps} steps, max |weight difference| to eager {worst:.2e} (atol {args.atol:.0e})")
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())

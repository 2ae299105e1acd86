"""Run every kernel forward and backward once against its reference and print the worst error.

    python -m alexnet2012.kernels.selfcheck --device cuda      # also the driver for compute-sanitizer

Small, odd shapes (every code path: each unrolled LRN window, the generic one,
padded and overlapping pooling, the split bias-gradient reduction, 16-byte runs
that cross channels (S = 1, S odd) or stay in one (S % 8 == 0), a ragged dropout
tail, a 1000-class loss and a 10-class one (runs crossing rows); convolutions with AlexNet's geometries, the
fused ReLU and both split-K reductions), fp32 and bf16. Exit status 1 if any op is
off by more than its tolerance, so a sanitizer run also checks the numbers.
"""

from __future__ import annotations

import argparse
import sys

import torch

from .bias_relu import bias_relu, bias_relu_reference
from .conv import conv2d, conv2d_reference
from .dropout import dropout, dropout_reference
from .lrn import lrn, lrn_reference
from .maxpool import max_pool, max_pool_reference
from .softmax_xent import softmax_cross_entropy, softmax_cross_entropy_reference

TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 3e-2}  # relative to the output's largest value


def _grad_pair(fn, ref_fn, *inputs):
    """(ours, reference) outputs and input gradients for one random upstream gradient."""
    leaves = [i.detach().clone().requires_grad_(i.is_floating_point()) for i in inputs]
    ref_leaves = [i.detach().double().clone().requires_grad_() if i.is_floating_point() else i for i in inputs]
    out, ref = fn(*leaves), ref_fn(*ref_leaves)
    g = torch.randn(out.shape, device=out.device)
    out.backward(g.to(out.dtype))
    ref.backward(g.double().to(ref.dtype))
    pairs = [(out, ref)] + [(a.grad, b.grad) for a, b in zip(leaves, ref_leaves) if a.grad is not None]
    return pairs


def checks(device: str, dtype: torch.dtype):
    g = torch.Generator().manual_seed(0)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device, dtype)

    labels = torch.randint(0, 1000, (9,), generator=g).to(device)
    yield "lrn n=5 groups=2", _grad_pair(lambda x: lrn(x, 5, 1e-2, 0.75, 2.0, 2),
                                         lambda x: lrn_reference(x, 5, 1e-2, 0.75, 2.0, 2), r(3, 12, 7, 5, scale=20))
    yield "lrn n=11 (generic)", _grad_pair(lambda x: lrn(x, 11, 1e-3, 0.75, 2.0, 1),
                                           lambda x: lrn_reference(x, 11, 1e-3, 0.75, 2.0, 1), r(2, 13, 5, 3, scale=20))
    yield "max_pool 3/2", _grad_pair(lambda x: max_pool(x, 3, 2), lambda x: max_pool_reference(x, 3, 2),
                                     r(3, 5, 27, 27))
    yield "max_pool 3/1 pad 1", _grad_pair(lambda x: max_pool(x, 3, 1, 1), lambda x: max_pool_reference(x, 3, 1, 1),
                                           r(2, 3, 9, 11))
    yield "bias_relu conv", _grad_pair(bias_relu, bias_relu_reference, r(16, 6, 31, 29),
                                       torch.randn(6, generator=g).to(device))
    yield "bias_relu fc", _grad_pair(bias_relu, bias_relu_reference, r(9, 333),
                                     torch.randn(333, generator=g).to(device))
    yield "bias_relu S=256 (vector dx)", _grad_pair(bias_relu, bias_relu_reference, r(4, 8, 16, 16),
                                                    torch.randn(8, generator=g).to(device))
    yield "dropout", _grad_pair(lambda x: dropout(x, 0.5, 77), lambda x: dropout_reference(x, 0.5, 77), r(7, 13, 5))
    def conv(stride, padding, groups, relu):
        return (lambda x, w, b: conv2d(x, w, b, stride, padding, groups, relu),
                lambda x, w, b: conv2d_reference(x, w, b, stride, padding, groups, relu))

    yield "conv 11x11/4 pad 2 relu", _grad_pair(*conv(4, 2, 1, True), r(2, 3, 39, 39), r(8, 3, 11, 11, scale=0.1), r(8))
    yield "conv 5x5 towers split-K", _grad_pair(*conv(1, 2, 2, False), r(2, 96, 7, 7), r(256, 48, 5, 5, scale=0.05),
                                                r(256))
    yield "conv 3x3 dW split-K", _grad_pair(*conv(1, 1, 1, True), r(8, 4, 32, 32), r(8, 4, 3, 3, scale=0.3), r(8))
    yield "softmax_xent 1000", _grad_pair(lambda z: softmax_cross_entropy(z, labels),
                                          lambda z: softmax_cross_entropy_reference(z, labels), r(9, 1000, scale=5))
    labels10 = torch.randint(0, 10, (9,), generator=g).to(device)
    yield "softmax_xent 10", _grad_pair(lambda z: softmax_cross_entropy(z, labels10),
                                        lambda z: softmax_cross_entropy_reference(z, labels10), r(9, 10, scale=5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    failed = 0
    for dtype in (torch.float32, torch.bfloat16):
        for name, pairs in checks(args.device, dtype):
            worst = max(((a.double() - b.double().to(a.device)).abs().max() / b.abs().max().clamp_min(1e-12)).item()
                        for a, b in pairs)
            ok = worst <= TOLERANCE[dtype]
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:28s} {str(dtype):15s} max relative error {worst:.2e}")
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The bf16 tensor-core convolution's block logic replayed on the CPU, against torch in fp64.

alexnet2012/kernels/csrc/conv_gemm.cuh holds the block body the GPU kernel (conv.cu) runs, written
against a policy; csrc/conv_replay.cpp instantiates it with a host policy (every thread's step in turn,
ldmatrix and mma.sync emulated per the PTX ISA's fragment layouts) and runs every block of the grid and
the split-K sum serially. Built here with the C++ compiler, so CI checks the GPU kernel's tile placement,
gathers, table ring, stage rotation, lane addresses, epilogue and split-K reduction without a GPU.
What it cannot check (the hardware's fragments, races, timing) is left to bench/gpu_session.sh kernels.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from .conftest import close

CSRC = Path(__file__).resolve().parents[3] / "alexnet2012" / "kernels" / "csrc"

# (batch, C_in, H, W, C_out, k, stride, padding, groups)
SHAPES = {
    "ragged, 3 groups": (3, 9, 7, 5, 6, 3, 1, 1, 3),
    "stride 2, no padding": (2, 4, 9, 8, 5, 3, 2, 0, 1),
    "stride 3 > kernel 2 (skipped taps)": (2, 4, 10, 9, 6, 2, 3, 1, 2),
    "conv1: 11x11 stride 4 pad 2": (2, 3, 39, 39, 8, 11, 4, 2, 1),
    "kernel 4 = stride 4": (2, 3, 17, 17, 5, 4, 4, 1, 1),
    "5x5 stride 2 pad 2, towers": (2, 6, 11, 11, 4, 5, 2, 2, 2),
    "1x1": (2, 5, 4, 3, 7, 1, 1, 0, 1),
    "fc: 1x1 of a 1x1 map, M and N past one tile": (3, 40, 1, 1, 150, 1, 1, 0, 1),
    "both GEMM sides past one tile": (1, 16, 13, 13, 140, 3, 1, 1, 1),
    "conv2's maps, towers (forward splits K)": (2, 96, 7, 7, 256, 5, 1, 2, 2),
    "8192 pixels (weight gradient splits K 16 ways)": (8, 4, 32, 32, 8, 3, 1, 1, 1),
}
PASSES = {"forward": 0, "backward data": 1, "backward weight": 2}


@pytest.fixture(scope="module")
def replay():
    from repro.native_build import load_extension

    return load_extension("alexnet2012_kernels", "conv_replay", [CSRC / "conv_replay.cpp"],
                          extra_include_paths=[str(CSRC)], extra_cflags=["-O2"])


def tensors(shape, seed):
    n, cin, h, w, cout, k, s, p, g = shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=gen).bfloat16()
    wt = (torch.randn(cout, cin // g, k, k, generator=gen) / k).bfloat16()
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    dy = torch.randn(n, cout, oh, ow, generator=gen).bfloat16()
    bias = torch.randn(cout, generator=gen)
    return x, wt, dy, bias


def run(replay, pass_, shape, x, wt, dy, bias, relu=False, splits=0, reverse=False):
    n, cin, h, w, cout, k, s, p, g = shape
    a, b = {0: (x, wt), 1: (dy, wt), 2: (dy, x)}[pass_]
    return replay.replay(pass_, a, b, bias if pass_ == 0 else None, [n, cin, h, w], cout, k, s, p, g, relu, splits,
                         reverse)


def reference(pass_, shape, x, wt, dy, bias, relu=False):
    n, cin, h, w, cout, k, s, p, g = shape
    x, wt, dy, bias = x.double(), wt.double(), dy.double(), bias.double()
    if pass_ == 0:
        y = F.conv2d(x, wt, bias, s, p, 1, g)
        return F.relu(y) if relu else y
    if pass_ == 1:
        return torch.nn.grad.conv2d_input(x.shape, wt, dy, s, p, 1, g)
    return torch.nn.grad.conv2d_weight(x, wt.shape, dy, s, p, 1, g)


@pytest.mark.parametrize("pass_name", list(PASSES))
@pytest.mark.parametrize("name", list(SHAPES))
def test_replay_matches_fp64_conv(replay, name, pass_name):
    shape, pass_ = SHAPES[name], PASSES[pass_name]
    x, wt, dy, bias = tensors(shape, seed=sum(shape))
    out, splits = run(replay, pass_, shape, x, wt, dy, bias)
    want = reference(pass_, shape, x, wt, dy, bias)
    assert out.shape == want.shape and out.dtype == torch.bfloat16
    assert want.abs().max() > 0
    close(out, want, torch.bfloat16, scale=want.abs().max().item())
    if name.startswith("8192") and pass_name == "backward weight":
        assert splits == 16  # the planner's choice: 1 output tile, K = 8192 (>= 512 per split)
    if name.startswith("conv2") and pass_name == "forward":
        assert splits == 2  # K = 48*25 = 1200


def test_fused_relu_epilogue(replay):
    shape = SHAPES["ragged, 3 groups"]
    x, wt, dy, bias = tensors(shape, seed=5)
    out, _ = run(replay, 0, shape, x, wt, dy, bias, relu=True)
    want = reference(0, shape, x, wt, dy, bias, relu=True)
    close(out, want, torch.bfloat16, scale=want.abs().max().item())
    assert (out == 0).float().mean() > 0.2


def test_every_split_count_the_planner_can_choose(replay):
    # The planner picks 1..64 splits (kMaxSplits); each count runs the same block code with a different
    # K range per block and the fixed-order sum. K = 2048 = 64 tiles of BK, so every count is possible.
    shape = (2, 3, 32, 32, 4, 3, 1, 1, 1)
    x, wt, dy, bias = tensors(shape, seed=11)
    want = reference(2, shape, x, wt, dy, bias)
    seen = set()
    for asked in range(1, 65):
        out, splits = run(replay, 2, shape, x, wt, dy, bias, splits=asked)
        assert 1 <= splits <= asked
        seen.add(splits)
        close(out, want, torch.bfloat16, scale=want.abs().max().item())
    assert {1, 2, 3, 5, 16, 32, 64} <= seen


def test_planner_splits_cover_k_exactly(replay):
    for m, n, k, groups in [(4, 27, 2048, 1), (128, 98, 1200, 2), (8, 36, 8192, 1), (96, 363, 55 * 55 * 128, 1),
                            (256, 2400, 13 * 13 * 128, 2), (4096, 128, 9216, 1), (10, 10, 31, 1),
                            (1, 1, 512 * 64 + 1, 1)]:
        splits, per = replay.plan_splits(m, n, k, groups, 0)
        assert 1 <= splits <= 64 and per % 32 == 0
        assert (splits - 1) * per < k <= splits * per  # no empty split, nothing left over
    for asked in range(1, 65):
        splits, per = replay.plan_splits(4, 27, 2048, 1, asked)
        assert splits <= asked and (splits - 1) * per < 2048 <= splits * per


def test_replay_does_not_depend_on_thread_order(replay):
    # Each step runs for every thread in turn: ascending and descending order agree bit for bit only if no
    # two threads talk through shared memory within a step (a missing barrier would show here).
    for name in ("conv1: 11x11 stride 4 pad 2", "5x5 stride 2 pad 2, towers"):
        shape = SHAPES[name]
        x, wt, dy, bias = tensors(shape, seed=3)
        for pass_ in (0, 1, 2):
            forward_order, _ = run(replay, pass_, shape, x, wt, dy, bias)
            backward_order, _ = run(replay, pass_, shape, x, wt, dy, bias, reverse=True)
            assert torch.equal(forward_order, backward_order)


def test_fast_division_is_exact(replay):
    # The tables' divisions (by the plane, the width, k*k, k, the stride) are multiply-shifts.
    gen = torch.Generator().manual_seed(0)
    numerators = list(range(0, 5000)) + torch.randint(0, 2**31 - 1, (3000,), generator=gen).tolist() + [2**31 - 1]
    divisors = list(range(1, 300)) + [3025, 729, 50176, 2**16 + 1, 2**20, 2**30 + 3, 2**31 - 1]
    assert replay.fast_div_agrees(numerators, divisors)

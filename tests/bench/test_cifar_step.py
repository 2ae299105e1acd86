"""bench/cifar_step.py's account of what else ran beside it: numbers from /proc/stat and getrusage,
never a fixed sentence (the former text said "shared with other work" whatever it measured)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench():
    spec = importlib.util.spec_from_file_location("cifar_step", ROOT / "bench" / "cifar_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shares_split_busy_time_into_the_bench_s_others_and_steal():
    b = bench()
    hz = os.sysconf("SC_CLK_TCK")
    before = [100, 0, 50, 1000, 5, 0, 0, 10, 0, 0]
    # 850 ticks: 330 busy (user + system), 500 idle, 20 stolen; the bench used 200 ticks' worth itself
    after = [400, 0, 80, 1500, 5, 0, 0, 30, 0, 0]
    others, steal = b.shares(before, after, own_seconds=200 / hz)
    assert abs(others - 130 / 850) < 1e-12 and abs(steal - 20 / 850) < 1e-12
    assert b.shares(before, after, own_seconds=10_000.0)[0] == 0.0  # never below zero
    assert b.shares([], after, 0.0) == (None, None) and b.shares(before, before, 0.0) == (None, None)
    counters = b.cpu_times()
    assert counters == [] or (len(counters) >= 8 and all(v >= 0 for v in counters))
    assert b.own_cpu_seconds() > 0


def test_contention_says_idle_or_shared_from_the_numbers():
    b = bench()
    idle = b.contention(0.8, 2.1, 0.012, 0.001, 300.0)
    assert "close to idle" in idle and "used 1.2%" in idle and "0.1% to other machines" in idle and "5.0 min" in idle
    assert "Other work shared the cores" in b.contention(8.3, 9.1, 0.61, 0.0, 600.0)
    stolen = b.contention(0.5, 2.1, 0.01, 0.08, 60.0)
    assert "Other work shared the cores" in stolen and "8.0% to other machines" in stolen
    assert "cannot tell" in b.contention(0.5, 0.5, None, None, 60.0)


def test_the_profile_sorts_ops_into_kinds_by_name():
    import importlib.util as util
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    spec = util.spec_from_file_location("cifar_profile", ROOT / "bench" / "cifar_profile.py")
    profile = util.module_from_spec(spec)
    spec.loader.exec_module(profile)
    assert profile.kind_of("aten::convolution_backward") == "convolution, backward"
    assert profile.kind_of("aten::mkldnn_convolution") == "convolution, forward"
    assert profile.kind_of("aten::max_pool2d_with_indices_backward") == "max pooling"
    assert profile.kind_of("aten::threshold_backward") == profile.kind_of("aten::tanh") == "ReLU / tanh"
    assert profile.kind_of("Optimizer.step#SGD.step") == "update (SGD, zero_grad)"
    assert profile.kind_of("aten::fill_") == "fills and copies"
    assert profile.kind_of("aten::empty_strided") == profile.OTHER

"""bench/cifar_step.py's account of what else ran beside it: numbers from /proc/stat and the load,
never a fixed sentence (the former text said "shared with other work" whatever it measured)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench():
    spec = importlib.util.spec_from_file_location("cifar_step", ROOT / "bench" / "cifar_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_steal_share_is_the_steal_counter_s_part_of_all_cpu_time():
    b = bench()
    before = [100, 0, 50, 1000, 0, 0, 0, 10, 0, 0]
    after = [400, 0, 80, 1500, 0, 0, 0, 30, 0, 0]  # 300 + 30 + 500 + 20 = 850 ticks, 20 of them stolen
    assert abs(b.steal_share(before, after) - 20 / 850) < 1e-12
    assert b.steal_share([], after) is None and b.steal_share(before, before) is None
    counters = b.cpu_times()
    assert counters == [] or (len(counters) >= 8 and all(v >= 0 for v in counters))


def test_contention_says_idle_or_shared_from_the_numbers():
    b = bench()
    idle = b.contention(1, 0.8, 1.1, [1.0, 1.2], 0.001, 300.0)
    assert "otherwise idle" in idle and "0.1% of all CPU time" in idle and "5.0 min" in idle
    loaded = b.contention(1, 8.3, 9.1, [7.5, 9.3], 0.0, 600.0)
    assert "Other work shared the cores" in loaded and "7.50-9.30" in loaded
    stolen = b.contention(2, 2.0, 2.1, [2.0, 2.2], 0.05, 60.0)
    assert "Other work shared the cores" in stolen and "5.0% of all CPU time" in stolen
    assert "not available" in b.contention(1, 0.5, 0.5, [0.5], None, 60.0)

"""Collecting run records (repro.report.collect) and `repro report`'s errors."""

import json

import pytest

from repro.cli import main as repro_main
from repro.report.collect import collect


def write_record(d, seed, train_err, test_err, test_misses, name="baseline", complete=True):
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"seed: {seed}\n")
    if not complete:
        return
    m = {
        "status": "complete", "era": "lecun1989", "name": name, "data": "usps", "seed": seed, "passes": 23,
        "final": {"train": {"loss": 0.002, "error": train_err, "misses": round(train_err * 72.91)},
                  "test": {"loss": 0.035, "error": test_err, "misses": test_misses}},
        "wall_time_s": 100.0 + seed, "train_time_s": 90.0, "samples_per_s": 1500.0 + seed,
        "environment": {"hardware": "Test CPU (2 cores)", "git": {"commit": "abc1234def5678"}, "torch": "2.14.1"},
    }
    (d / "metrics.json").write_text(json.dumps(m))


@pytest.fixture
def records(tmp_path):
    root = tmp_path / "baseline"  # records directly in a folder: the table is named after it
    write_record(root / "s0", 0, 0.40, 5.00, 100)
    write_record(root / "s1", 1, 0.20, 6.00, 120)
    write_record(root / "s2", 2, 0.30, 5.50, 110)
    write_record(root / "other", 0, 1.0, 9.0, 180, name="something_else")
    write_record(root / "unfinished", 3, 0, 0, 0, complete=False)
    broken = root / "broken"
    write_record(broken, 4, 0.1, 1.0, 20)
    m = json.loads((broken / "metrics.json").read_text())
    del m["final"]["test"]
    (broken / "metrics.json").write_text(json.dumps(m))
    return root


def test_collect_keeps_finished_and_lists_the_rest(records):
    runs, skipped = collect([records])
    assert sorted(runs["seed"][runs["name"] == "baseline"]) == [0, 1, 2]
    reasons = {s.path.name: s.reason for s in skipped}
    assert set(reasons) == {"unfinished", "broken"}
    assert "unfinished" in reasons["unfinished"]
    assert "malformed" in reasons["broken"] and "'test'" in reasons["broken"]


def test_report_on_missing_directory_is_a_clear_error(tmp_path, capsys):
    assert repro_main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err

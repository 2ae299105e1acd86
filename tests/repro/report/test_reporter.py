"""The report plug-in interface: era reporters found through the
`repro.reporters` entry points, picked by the records' `era`."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from repro import cli
from repro.report import reporter as plugin
from repro.report.reporter import GROUP, Reporter, ReporterError, reporter_for, reporters


def record(d: Path, era: str, table: str = "") -> None:
    d.mkdir(parents=True)
    (d / "config.yaml").write_text("seed: 0\n")
    m = {"status": "complete", "era": era, "name": "baseline", "table": table, "data": "usps", "seed": 0,
         "passes": 1, "final": {"train": {"loss": 0.1, "error": 1.0, "misses": 1},
                                "test": {"loss": 0.1, "error": 2.0, "misses": 2}},
         "wall_time_s": 1.0, "train_time_s": 1.0, "samples_per_s": 1.0, "environment": {"hardware": "cpu"}}
    (d / "metrics.json").write_text(json.dumps(m))


def test_both_eras_are_installed_as_entry_points():
    found = reporters()
    assert {"lecun1989", "alexnet2012"} <= set(found)
    assert all(isinstance(r, Reporter) and r.era == era for era, r in found.items())


def test_default_roots_come_from_the_reporters():
    assert Path("results/lecun1989/runs") in cli.default_runs()
    assert Path("results/alexnet2012/runs") in cli.default_run_tables()


def test_an_unknown_era_is_one_clear_line(tmp_path, capsys):
    record(tmp_path / "runs" / "sweep" / "0", "cobol1959")
    assert cli.main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: no reporter for era 'cobol1959'") and "sweep" in err and "lecun1989" in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_an_unknown_era_in_a_run_table_sweep_too(tmp_path, capsys):
    record(tmp_path / "runs" / "sweep" / "0", "cobol1959")
    (tmp_path / "none").mkdir()
    args = ["report", str(tmp_path / "none"), "--run-tables", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.startswith("error: no reporter for era 'cobol1959'")


def test_reporter_for_names_the_installed_ones():
    with pytest.raises(ReporterError, match=r"installed: alexnet2012, lecun1989"):
        reporter_for("nope")


def test_a_reporter_without_a_table_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plugin, "reporters", lambda: {"bare": Reporter(era="bare")})
    monkeypatch.setattr(cli, "reporters", plugin.reporters)
    record(tmp_path / "runs" / "sweep" / "0", "bare", table="t")
    assert cli.main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert "sweep: the bare reporter has no table for experiment t" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["REPORT.md"]


def test_a_broken_entry_point_is_one_clear_line(monkeypatch):
    bad = EntryPoint(name="bad", value="repro.report.markdown:NOPE", group=GROUP)
    monkeypatch.setattr(plugin, "entry_points", lambda group: [bad])
    plugin.reporters.cache_clear()
    try:
        with pytest.raises(ReporterError, match=r"^reporter 'bad' \(repro.report.markdown:NOPE\) failed to load"):
            plugin.reporters()
        monkeypatch.setattr(plugin, "entry_points",
                            lambda group: [EntryPoint(name="x", value="repro.report.markdown:table", group=GROUP)])
        plugin.reporters.cache_clear()
        with pytest.raises(ReporterError, match="is not a Reporter for era 'x'"):
            plugin.reporters()
    finally:
        plugin.reporters.cache_clear()

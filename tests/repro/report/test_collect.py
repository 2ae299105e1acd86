"""Collecting run records (repro.report.collect) and `repro report`'s errors."""

from repro.cli import main as repro_main
from repro.report.collect import collect


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

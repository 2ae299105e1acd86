"""`repro runs`: a row per finished run with every evaluated split, byte-stable."""

from __future__ import annotations

from repro.cli import main


def test_runs_table_lists_every_split_and_skips_unfinished(tmp_path, alexnet_record):
    runs = tmp_path / "runs"
    final = {"val": {"loss": 1.0, "error": 30.25, "misses": 3025, "top5_error": 2.5},
             "val10": {"loss": 0.9, "error": 28.0, "misses": 2800, "top5_error": 2.0}}
    alexnet_record(runs / "a", 0, final)
    alexnet_record(runs / "b", 1, {"val": {"loss": 1.1, "error": 31.0, "misses": 3100, "top5_error": 3.0}})
    (runs / "c").mkdir()
    (runs / "c" / "config.yaml").write_text("seed: 2\n")  # unfinished: listed, never tabulated
    assert main(["runs", str(runs), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t.md").read_text()
    assert "| val top-1 | val top-5 | val10 top-1 | val10 top-5 |" in md
    assert "| 30.25 | 2.50 | 28.00 | 2.00 | 10.0 | 350 | test cpu | abcdef0123 |" in md
    assert "| 31.00 | 3.00 | — | — |" in md
    assert "Skipped" in md and "/c:" in md
    first = (tmp_path / "t.md").read_bytes(), (tmp_path / "t.csv").read_bytes()
    assert main(["runs", str(runs), "--out", str(tmp_path / "t")]) == 0
    assert ((tmp_path / "t.md").read_bytes(), (tmp_path / "t.csv").read_bytes()) == first


def test_report_writes_a_run_table_per_sweep_and_links_it(tmp_path, alexnet_record):
    runs = tmp_path / "alexnet2012" / "runs"
    alexnet_record(runs / "alexnet_cifar10" / "0_alexnet_cifar10_seed0", 0,
           {"val": {"loss": 1.0, "error": 30.25, "misses": 3025, "top5_error": 2.5}})
    lecun = tmp_path / "lecun_runs"
    lecun.mkdir()
    out = tmp_path / "results"
    assert main(["report", str(lecun), "--run-tables", str(runs), "--out", str(out)]) == 0
    md = (out / "alexnet2012" / "alexnet_cifar10.md").read_text()
    assert "| 30.25 | 2.50 |" in md
    assert "[alexnet_cifar10.md](alexnet2012/alexnet_cifar10.md)" in (out / "REPORT.md").read_text()

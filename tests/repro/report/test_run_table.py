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


def test_runs_of_one_name_that_differ_get_their_setting_as_a_column(tmp_path, alexnet_record):
    import json

    runs = tmp_path / "lr_sweep"
    for i, lr in enumerate((0.01, 0.001)):
        d = runs / f"{i}_alexnet_cifar10_seed0"
        alexnet_record(d, 0, {"val": {"loss": 1.0, "error": 30.0 + i, "misses": 3000, "top5_error": 2.5}})
        m = json.loads((d / "metrics.json").read_text())
        m["config"] = {"name": "alexnet_cifar10", "seed": 0, "optim": {"lr": lr}, "data": {"root": f"/r{i}"}}
        (d / "metrics.json").write_text(json.dumps(m))
    assert main(["runs", str(runs), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t.md").read_text()
    assert "| run | optim.lr | data |" in md  # data.root is where the data lives, not a setting
    assert "0_alexnet_cifar10_seed0 | 0.01 | cifar10 |" in md and "1_alexnet_cifar10_seed0 | 0.001 | cifar10 |" in md
    assert "optim.lr" in (tmp_path / "t.csv").read_text().splitlines()[0]


def test_a_sweep_of_two_configurations_gets_the_error_plot_and_curves(tmp_path, alexnet_record):
    import json

    runs = tmp_path / "lr_sweep"
    for i, lr in enumerate((0.01, 0.001)):
        for seed in (0, 1):
            d = runs / f"{2 * i + seed}_alexnet_cifar10_seed{seed}"
            alexnet_record(d, seed, {"val": {"loss": 1.0, "error": 30.0 + 10 * i + seed, "misses": 1, "top5_error": 2.5}})
            m = json.loads((d / "metrics.json").read_text())
            m["config"] = {"name": "alexnet_cifar10", "seed": seed, "optim": {"lr": lr}}
            (d / "metrics.json").write_text(json.dumps(m))
            (d / "history.csv").write_text("pass,val_error\n1,60.0\n2,40.0\n")
    assert main(["runs", str(runs), "--out", str(tmp_path / "t")]) == 0
    for png in ("t_error.png", "t_curves.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in (tmp_path / "t.md").read_text()
    single = tmp_path / "one"
    alexnet_record(single / "a", 0, {"val": {"loss": 1.0, "error": 30.0, "misses": 1, "top5_error": 2.5}})
    assert main(["runs", str(single), "--out", str(tmp_path / "u")]) == 0
    assert not (tmp_path / "u_error.png").exists()  # one configuration: a table, no plots

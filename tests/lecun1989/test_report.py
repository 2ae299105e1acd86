"""The 1989 era's report plug-in (lecun1989.report) through `repro report`:
the baseline table of plain runs beside the paper's and Karpathy's numbers, and
an experiment's table (a sweep with one broken and one unfinished record):
published columns, plots, byte-stability."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch

from repro.cli import main as repro_main


def test_report_tables(records, tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(records), "--out", str(out)]) == 0
    md = (out / "lecun1989" / "baseline.md").read_text()
    # Mean and sample sd over seeds 0..2: test error 5.5 ± 0.5, train 0.30 ± 0.10.
    assert "| **ours** | USPS | 23 | 3 | 0.30 ± 0.10 | 5.50 ± 0.50 | 110.0 ± 10.0 |" in md
    assert "| LeCun et al. 1989 (paper) | USPS | 23 | — | 0.14 | 5.00 |" in md
    assert "| Karpathy 2022 repro (MNIST 16x16) | MNIST 16x16 | 23 | — | 0.62 | 4.09 |" in md
    assert "something_else" not in md and "9.00" not in md  # other configurations are not averaged in
    assert "## Skipped records" in md and "| broken |" in md and "| unfinished |" in md
    csv = pd.read_csv(out / "lecun1989" / "baseline.csv")
    ours = csv[csv["source"] == "ours"].iloc[0]
    assert ours["seeds"] == 3
    assert ours["test_error_mean"] == pytest.approx(5.5) and ours["test_error_sd"] == pytest.approx(0.5)
    assert list(csv["source"]) == ["ours", "LeCun et al. 1989 (paper)", "Karpathy 2022 repro (MNIST 16x16)"]


def test_report_is_byte_identical_for_the_same_records(records, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        repro_main(["report", str(records), "--out", str(out)])
        outs.append([(out / "lecun1989" / f).read_bytes() for f in ("baseline.md", "baseline.csv")])
    assert outs[0] == outs[1]


ROWS = {  # row -> (tricks, [(seed, train %, test %, test misses)])
    "baseline": ([], [(0, 0.4, 5.0, 100), (1, 0.2, 6.0, 120), (2, 0.3, 5.5, 110)]),
    "dropout_relu": (["augment_shift", "dropout", "relu", "softmax_ce", "adamw", "more_passes"],
                     [(0, 1.2, 2.0, 40), (1, 1.4, 2.4, 48), (2, 1.3, 2.2, 44)]),
}


def write_run(d, name, tricks, seed, train, test, misses, passes):
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"seed: {seed}\n")
    pd.DataFrame({"pass": [1, 2], "train_error": [10.0, train], "test_error": [12.0, test]}).to_csv(d / "history.csv", index=False)
    torch.save({"h1_w": torch.linspace(-1, 1, 12 * 25).view(12, 1, 5, 5) * (seed + 1)}, d / "model.pt")
    buf = io.BytesIO()
    np.savez_compressed(buf, index=np.arange(3, dtype=np.int32), label=np.array([1, 2, 3], np.int8),
                        pred=np.array([7, 3, 5], np.int8), image_u8=np.full((3, 16, 16), 200, np.uint8))
    (d / "misclassified.npz").write_bytes(buf.getvalue())
    m = {
        "status": "complete", "era": "lecun1989", "name": name, "table": "karpathy_table", "data": "usps",
        "n_train": 7291, "seed": seed, "passes": passes, "backend": "eager" if tricks else "fused_cpu",
        "tricks": [{"name": t, "params": {}, "changed": []} for t in tricks],
        "final": {"train": {"loss": 0.01, "error": train, "misses": round(train * 72.91)},
                  "test": {"loss": 0.1, "error": test, "misses": misses}},
        "wall_time_s": 100.0, "train_time_s": 90.0, "samples_per_s": 700.0,
        "environment": {"hardware": "Test CPU", "git": {"commit": "abc1234def"}, "torch": "2.14.1"},
    }
    (d / "metrics.json").write_text(json.dumps(m))


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "runs"
    job = 0
    for name, (tricks, seeds) in reversed(ROWS.items()):  # written out of order: the report orders rows
        for seed, train, test, misses in seeds:
            write_run(root / "karpathy_table" / f"{job}_{name}_seed{seed}", name, tricks, seed, train, test, misses,
                      80 if tricks else 23)
            job += 1
    broken = root / "karpathy_table" / f"{job}_augment_seed0"
    write_run(broken, "augment", ["augment_shift"], 0, 1.0, 2.0, 40, 60)
    m = json.loads((broken / "metrics.json").read_text())
    del m["final"]["train"]
    (broken / "metrics.json").write_text(json.dumps(m))
    (root / "karpathy_table" / f"{job + 1}_augment_seed1").mkdir()
    (root / "karpathy_table" / f"{job + 1}_augment_seed1" / "config.yaml").write_text("seed: 1\n")
    return root


def test_experiment_table_beside_the_published_numbers(sweep, tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(sweep), "--out", str(out)]) == 0
    md = (out / "lecun1989" / "karpathy_table.md").read_text()
    lines = [line for line in md.splitlines() if line.startswith("| `")]
    # Rows in the sweep's order, not the order found on disk.
    assert lines[0].startswith("| `baseline` | — (the 1989 recipe) | USPS (7,291) | 23 | 3 | 0.30 ± 0.10 | 5.50 ± 0.50 "
                               "| 110.0 ± 10.0 | reference | 0.62 | 4.09 | 82 | — | 0.14 / 5.00 |")
    # 2.2 vs 5.5: 60% fewer errors; Karpathy's 1.59 vs 4.09: 61% fewer.
    assert lines[1].startswith("| `dropout_relu` | augment_shift, dropout, relu, softmax_ce, adamw, more_passes "
                               "| USPS (7,291) | 80 | 3 | 1.30 ± 0.10 | 2.20 ± 0.20 | 44.0 ± 4.0 | -60% | 1.47 | 1.59 "
                               "| 32 | -61% | — |")
    assert "augment" not in [line.split("|")[1].strip(" `") for line in lines[:2]]
    skipped = md.split("## Skipped records")[1]
    assert "augment_seed0" in skipped and "malformed" in skipped and "'train'" in skipped
    assert "augment_seed1" in skipped and "unfinished" in skipped
    csv = pd.read_csv(out / "lecun1989" / "karpathy_table.csv")
    assert list(csv["row"]) == ["baseline", "dropout_relu"]
    row = csv.set_index("row").loc["dropout_relu"]
    assert row["test_error_mean"] == pytest.approx(2.2) and row["test_error_change_pct"] == pytest.approx(-60)
    assert row["karpathy_test_error"] == 1.59 and row["seeds"] == 3
    for png in ("error", "curves", "misclassified", "h1_kernels"):
        path = out / "lecun1989" / f"karpathy_table_{png}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({path.name})" in md
    index = (out / "REPORT.md").read_text()
    assert "[karpathy_table.md](lecun1989/karpathy_table.md)" in index and "| `softmax_ce` |" in index


def test_same_records_give_byte_identical_tables_and_plots(sweep, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        assert repro_main(["report", str(sweep), "--out", str(out)]) == 0
        outs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert len(outs[0]) >= 7 and outs[0] == outs[1]


def test_the_reporter_names_the_committed_runs_and_the_1989_tricks():
    from lecun1989.report import REPORTER
    from modern_tricks import TRICKS

    assert REPORTER.era == "lecun1989" and list(REPORTER.runs) == ["results/lecun1989/runs"]
    assert not REPORTER.run_tables and REPORTER.sweep_table is None
    names = [name for name, _, _ in REPORTER.tricks()]
    assert sorted(names) == sorted(TRICKS) and len(names) == len(set(names))


@pytest.fixture
def mixed_sweep(tmp_path):
    """What real result folders hold: two test sets (USPS and MNIST rows), a seed recorded
    twice, a 1-pass smoke record beside the full 23-pass one."""
    root = tmp_path / "runs" / "karpathy_table"

    def rec(job, name, tricks, seed, train, test, misses, passes, data="usps", n_train=7291):
        d = root / f"{job}_{name}_seed{seed}"
        write_run(d, name, tricks, seed, train, test, misses, passes)
        m = json.loads((d / "metrics.json").read_text())
        (d / "metrics.json").write_text(json.dumps({**m, "data": data, "n_train": n_train}))

    rec(0, "baseline", [], 0, 0.4, 5.0, 100, 23)
    rec(1, "baseline", [], 1, 0.2, 6.0, 120, 23)
    rec(2, "baseline", [], 1, 0.2, 6.0, 120, 23)  # seed 1 again (a rerun into another folder)
    rec(3, "mnist_baseline", [], 0, 1.0, 4.0, 80, 23, "mnist16")
    rec(4, "mnist_baseline", [], 1, 1.2, 5.0, 100, 23, "mnist16")
    rec(5, "more_data", ["more_data", "more_passes"], 0, 1.5, 3.0, 60, 100, "mnist16", 50000)
    rec(6, "more_data", ["more_data", "more_passes"], 1, 1.7, 3.0, 60, 100, "mnist16", 50000)
    rec(7, "softmax_ce", ["softmax_ce"], 0, 9.0, 12.0, 240, 1)  # trainer.max_epochs=1: the smoke sweep
    rec(8, "softmax_ce", ["softmax_ce"], 0, 0.1, 5.5, 110, 23)
    return root.parent


def test_each_rows_change_is_against_the_baseline_on_its_own_test_set(mixed_sweep, tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(mixed_sweep), "--out", str(out)]) == 0
    csv = pd.read_csv(out / "lecun1989" / "karpathy_table.csv")
    more = csv[csv["row"] == "more_data"].iloc[0]
    # MNIST rows against mnist_baseline (4.5%): 3.0 is -33%; against USPS's baseline it would be -47%.
    assert more["test_error_change_pct"] == pytest.approx(100 * (3.0 - 4.5) / 4.5, abs=1e-3), (
        f"more_data's Δ test is {more['test_error_change_pct']:.1f}%, not against mnist_baseline (-33.3%)")
    md = (out / "lecun1989" / "karpathy_table.md").read_text()
    assert "| `more_data` | more_data, more_passes | MNIST 16x16 (50,000) | 100 | 2 | 1.60 ± 0.14 | 3.00 ± 0.00 | 60.0 ± 0.0 | -33% |" in md
    assert md.count("| reference |") == 2, "each test set has its own reference row (baseline, mnist_baseline)"
    full_ce = csv[(csv["row"] == "softmax_ce") & (csv["passes"] == 23)].iloc[0]
    # Against USPS's baseline, 5.5% over its seeds 0 and 1 (the rerun of seed 1 is a duplicate, not averaged in):
    # 0%; against mnist_baseline it would be +22%.
    assert full_ce["test_error_change_pct"] == pytest.approx(0.0, abs=1e-9)
    base = csv[csv["row"] == "baseline"].iloc[0]
    assert base["test_error_mean"] == pytest.approx(5.5) and base["seeds"] == 2
    assert "| 2_baseline_seed1 | `baseline` | duplicate of " in md


def test_seeds_are_counted_once_and_smoke_records_are_their_own_row(mixed_sweep, tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(mixed_sweep), "--out", str(out)]) == 0
    csv = pd.read_csv(out / "lecun1989" / "karpathy_table.csv")
    base = csv[csv["row"] == "baseline"].iloc[0]
    assert base["seeds"] == 2, f"baseline has 3 records of 2 distinct seeds; the table says {base['seeds']} seeds"
    # The 1-pass smoke record is never averaged into the 23-pass row: two rows, told apart by their passes.
    ce = csv[csv["row"] == "softmax_ce"].set_index("passes")
    assert sorted(ce.index) == [1, 23]
    assert ce.loc[23, "test_error_mean"] == 5.5 and ce.loc[23, "seeds"] == 1, "the smoke run was averaged into the full row"
    assert ce.loc[1, "test_error_mean"] == 12.0

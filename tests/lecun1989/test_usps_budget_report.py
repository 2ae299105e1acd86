"""Issue 21's table (lecun1989/report/usps_budget.py) from fake run records of both protocols:
validation runs (final.holdout, no final.test) give the validation column, final runs (final.test,
nothing held out) the test and train columns; path rows' Δ are against the row above, `without_*`
rows' against the path's last row; the verdict, the budget mark, the figures, byte-stability.

Rows are sorted by name here (no conf/lecun1989/experiment/usps_budget.yaml lists these names), so
the path is a_first, b_second and the ablation without_x, without_y. Errors are multiples of 0.5 (and
means of 2 or 3 of them) so every mean and Δ below is exact in binary."""

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lecun1989.report import usps_budget
from lecun1989.report.usps_budget import summarise, write_usps_budget
from repro.cli import main as repro_main
from repro.report import rows
from repro.report.collect import collect

# row -> (free parameters, passes, validation holdout errors, final (train, test) errors), by seed
ROWS = {
    "a_first": (9760, 23, [4.0, 5.0], [(0.5, 3.0), (0.5, 4.0), (0.5, 5.0)]),
    "b_second": (9750, 100, [3.0, 3.5, 4.0], [(1.0, 2.0), (1.5, 2.5), (2.0, 3.0)]),
    "without_x": (12000, 100, [4.0, 4.5], [(1.0, 3.0), (1.0, 3.5)]),
    "without_y": (9760, 100, [3.0, 3.0], [(1.0, 2.5), (1.0, 2.5)]),
}
VAL_TRAIN = 9.0  # validation runs' train error: never in the train column (final runs only)


def npz(n: int) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, index=np.arange(5, 5 + n, dtype=np.int32), label=np.full(n, 1, np.int8),
                        pred=np.full(n, 7, np.int8), image_u8=np.full((n, 16, 16), 200, np.uint8))
    return buf.getvalue()


def write_record(d: Path, name: str, protocol: str, seed: int, params: int, passes: int, train: float,
                 split: float, finished: str = "2026-12-01T00:00:00"):
    """A run record as lecun1989 writes it: a validation run has final.holdout and no final.test."""
    d.mkdir(parents=True)
    validation = protocol == "validation"
    data = {"name": "usps", "val_size": 2000 if validation else 0, "val_seed": 0, "evaluate_test": not validation}
    config = {"name": name, "seed": seed, "table": "usps_budget", "data": data, "trainer": {"progress": False}}
    n_train = 5291 if validation else 7291
    final = {"train": {"loss": 0.01, "error": train, "misses": round(train * n_train / 100)}}
    if validation:
        final["holdout"] = {"loss": 0.1, "error": split, "misses": round(split * 20)}
    else:
        final["test"] = {"loss": 0.1, "error": split, "misses": round(split * 20.07)}
    m = {"status": "complete", "era": "lecun1989", "name": name, "table": "usps_budget", "data": "usps",
         "n_train": n_train, "seed": seed, "passes": passes, "backend": "fused_cpu", "config": config,
         "tricks": [{"name": "relu", "params": {}, "changed": []}], "final": final,
         "counts": {"units": 1256, "connections": 64660, "free_parameters": params},
         "wall_time_s": 100.0, "train_time_s": 90.0, "samples_per_s": 700.0, "finished_at": finished,
         "environment": {"hardware": "Test CPU", "git": {"commit": "abc1234def"}, "torch": "2.14.1"}}
    (d / "metrics.json").write_text(json.dumps(m))
    (d / "config.yaml").write_text(f"seed: {seed}\n")


def make_sweep(root: Path, shift: float = 0.0, only: str | None = None) -> Path:
    """Every row under both protocols (``only``: one protocol); ``shift`` added to b_second's test errors.
    b_second's final seeds 0 and 1 keep their misclassified digits (3 and 5); a_first's final seed 0 is
    recorded twice, the copy (9.0%, finished later) never averaged in."""
    sweep = root / "runs" / "usps_budget"
    job = 0
    for name, (params, passes, val, fin) in ROWS.items():
        if only in (None, "validation"):
            for seed, err in enumerate(val):
                write_record(sweep / f"{job:02d}_{name}_val_seed{seed}", name, "validation", seed, params, passes,
                             VAL_TRAIN, err)
                job += 1
        if only in (None, "final"):
            for seed, (train, test) in enumerate(fin):
                d = sweep / f"{job:02d}_{name}_final_seed{seed}"
                write_record(d, name, "final", seed, params, passes, train, test + (shift if name == "b_second" else 0))
                if name == "b_second" and seed < 2:
                    (d / "misclassified.npz").write_bytes(npz(3 + 2 * seed))
                job += 1
    if only in (None, "final"):
        write_record(sweep / f"{job:02d}_a_first_final_seed0", "a_first", "final", 0, 9760, 23, 0.5, 9.0,
                     finished="2026-12-02T00:00:00")
    return sweep.parent


def prepared(runs_root: Path) -> pd.DataFrame:
    """The records as write_usps_budget prepares them before summarise (rows resolved, duplicates out)."""
    runs, skipped = collect([runs_root])
    runs, _ = rows.resolve(runs, skipped)
    extras = [usps_budget._record(p) for p in runs["run"]]
    return runs.assign(_protocol=[usps_budget._protocol(r) for _, r in runs.iterrows()],
                       _params=[e[0] for e in extras], _tta_test=[e[1] for e in extras],
                       _tta_holdout=[e[2] for e in extras])


def test_summarise_pairs_the_protocols_and_takes_each_delta_against_its_reference(tmp_path):
    runs = prepared(make_sweep(tmp_path))
    assert sorted(runs.loc[runs["_protocol"] == "validation", "n_train"].unique()) == [5291]
    assert sorted(runs.loc[runs["_protocol"] == "final", "n_train"].unique()) == [7291]
    s = summarise(runs, ["a_first", "b_second", "without_x", "without_y"]).set_index("row")
    # The best recipe without its last change is the path's row before it (a_first): added, not rerun.
    assert list(s.index) == ["a_first", "b_second", "without_x", "without_y", "without_b_second"]
    assert list(s["kind"]) == ["path", "path", "ablation", "ablation", "ablation"]
    last = s.loc["without_b_second"]
    assert (last["validation_error_mean"], last["test_error_mean"]) == (4.5, 4.0)
    assert (last["delta_validation"], last["delta_test"]) == (1.0, 1.5)
    a, b, x, y = (s.loc[r] for r in ("a_first", "b_second", "without_x", "without_y"))
    # Validation from the validation runs' holdout only; test and train from the final runs only
    # (a_first's duplicate seed 0 at 9.0% is not averaged in, nor are the validation runs' 9.0% train errors).
    assert (a["validation_error_mean"], a["validation_seeds"], a["test_error_mean"], a["test_seeds"]) == (4.5, 2, 4.0, 3)
    assert a["validation_error_sd"] == pytest.approx(math.sqrt(0.5)) and a["test_error_sd"] == pytest.approx(1.0)
    assert (a["train_error_mean"], a["train_error_sd"]) == (0.5, 0.0)
    assert (b["validation_error_mean"], b["test_error_mean"], b["train_error_mean"]) == (3.5, 2.5, 1.5)
    assert b["validation_error_sd"] == pytest.approx(0.5) and b["test_error_sd"] == pytest.approx(0.5)
    # The path: the first row has no Δ, the second is against the first (absolute percentage points).
    assert math.isnan(a["delta_validation"]) and math.isnan(a["delta_test"])
    assert (b["delta_validation"], b["delta_test"]) == (-1.0, -1.5)
    # The ablation: against the path's last row (b_second: 3.5 / 2.5), not against the row above it
    # (without_y against without_x would be -1.25 / -0.75) nor the first path row (-1.5 / -1.5).
    assert (x["validation_error_mean"], x["test_error_mean"]) == (4.25, 3.25)
    assert (x["delta_validation"], x["delta_test"]) == (0.75, 0.75)
    assert (y["delta_validation"], y["delta_test"]) == (-0.5, 0.0)
    assert list(s["free_parameters"]) == [9760, 9750, 12000, 9760, 9760]
    assert list(s["passes"]) == [23, 100, 100, 100, 23]


def _md(out: Path) -> str:
    return (out / "lecun1989" / "usps_budget.md").read_text()


def test_report_writes_the_table_figures_and_verdict(tmp_path, monkeypatch):
    grids = []
    real_grid = usps_budget.plots.image_grid

    def spy(images, captions, title, path, *a, **k):
        grids.append((images.shape, list(captions), title))
        return real_grid(images, captions, title, path, *a, **k)

    monkeypatch.setattr(usps_budget.plots, "image_grid", spy)
    out = tmp_path / "results"
    assert repro_main(["report", str(make_sweep(tmp_path)), "--out", str(out)]) == 0
    md = _md(out)
    assert usps_budget.RULES in md
    lines = [line for line in md.split("## Runs")[0].splitlines() if line.startswith("| `")]
    assert lines == [
        "| `a_first` |  | 9,760 | 23 | 4.50 ± 0.71 | — | 4.00 ± 1.00 | — | 0.50 ± 0.00 | — | 2 / 3 |",
        "| `b_second` |  | 9,750 | 100 | 3.50 ± 0.50 | -1.00 | 2.50 ± 0.50 | -1.50 | 1.50 ± 0.50 | — | 3 / 3 |",
        # The ablation, largest Δ validation first; a row above 9,760 parameters is marked.
        "| `without_b_second` | the last step of the path: row `a_first`'s runs | 9,760 | 4.50 ± 0.71 | +1.00 | "
        "4.00 ± 1.00 | +1.50 | 2 / 3 |",
        "| `without_x` |  | 12,000 (over budget) | 4.25 ± 0.35 | +0.75 | 3.25 ± 0.35 | +0.75 | 2 / 2 |",
        "| `without_y` |  | 9,760 | 3.00 ± 0.00 | -0.50 | 2.50 ± 0.00 | +0.00 | 2 / 2 |",
    ]
    assert md.count("(over budget)") == 1
    assert ("the validation error moves by, largest first: `b_second` +1.00 on validation (+1.50 on test); "
            "`x` +0.75 on validation (+0.75 on test); `y` -0.50 on validation (+0.00 on test) (percentage points). "
            "What mattered most on validation: `b_second`.") in md
    assert "Removing `y` lowered the mean validation error" in md
    # 2.50 <= 2.5: the target is reached (at equality).
    assert "is **reached**: the best recipe's mean test error is 2.50%" in md and "not reached" not in md
    # Runs: each row's validation runs, then its final ones; the duplicate listed as skipped, never counted.
    assert "| `a_first` | validation | 1 | 5.00 | — | 9.00 | 100 | abc1234def |" in md
    assert "| `a_first` | final | 2 | — | 5.00 | 0.50 | 100 | abc1234def |" in md
    assert "| `a_first` | final | 0 | — | 9.00 |" not in md
    skipped = md.split("## Skipped records")[1]
    assert "a_first_final_seed0" in skipped and "duplicate of" in skipped
    # Figures: parameters, and the digits the best row's lowest-seed final run gets wrong (seed 0: 3 digits).
    for png in ("params", "misclassified"):
        path = out / "lecun1989" / f"usps_budget_{png}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({path.name})" in md
    assert "The test digits the best row (seed 0) still misclassifies" in md
    assert len(grids) == 1 and grids[0][0] == (3, 16, 16)
    assert grids[0][1] == ["#5: 1→7", "#6: 1→7", "#7: 1→7"] and "`b_second` (seed 0)" in grids[0][2]
    csv = pd.read_csv(out / "lecun1989" / "usps_budget.csv").set_index("row")
    assert list(csv.index) == ["a_first", "b_second", "without_x", "without_y", "without_b_second"]
    assert list(csv["delta_validation"].fillna(99)) == [99, -1.0, 0.75, -0.5, 1.0]
    assert list(csv["delta_test"].fillna(99)) == [99, -1.5, 0.75, 0.0, 1.5]
    assert list(csv["free_parameters"]) == [9760, 9750, 12000, 9760, 9760]
    assert list(csv["validation_seeds"]) == [2, 3, 2, 2, 2] and list(csv["test_seeds"]) == [3, 3, 2, 2, 3]


def test_target_not_reached_above_human_error_and_no_grid_without_digits(tmp_path):
    runs = make_sweep(tmp_path, shift=0.5)  # b_second's test errors 2.5, 3.0, 3.5: mean 3.0
    (first,) = (runs / "usps_budget").glob("*_b_second_final_seed0")
    (first / "misclassified.npz").unlink()
    out = tmp_path / "results"
    assert repro_main(["report", str(runs), "--out", str(out)]) == 0
    md = _md(out)
    assert "is **not reached**: the best recipe's mean test error is 3.00%" in md
    # Δ test of the ablation moves with the best row: without_x 3.25 - 3.0, without_y 2.5 - 3.0.
    assert "| `without_x` |  | 12,000 (over budget) | 4.25 ± 0.35 | +0.75 | 3.25 ± 0.35 | +0.25 | 2 / 2 |" in md
    # Only the lowest seed's digits are shown: seed 1's file is not a stand-in for seed 0's.
    assert not (out / "lecun1989" / "usps_budget_misclassified.png").exists() and "misclassifies" not in md


def test_no_runs_yet(tmp_path):
    written = write_usps_budget("usps_budget", pd.DataFrame(), [], tmp_path)
    assert written == [tmp_path / "usps_budget.md"] and sorted(p.name for p in tmp_path.iterdir()) == ["usps_budget.md"]
    md = written[0].read_text()
    assert "No runs yet." in md and usps_budget.RULES in md and "## Runs" not in md


def test_validation_runs_only_the_search_before_any_final_run(tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(make_sweep(tmp_path, only="validation")), "--out", str(out)]) == 0
    md = _md(out)
    assert "| `b_second` |  | 9,750 | 100 | 3.50 ± 0.50 | -1.00 | — | — | — | — | 3 / 0 |" in md
    assert "What mattered most on validation: `b_second`." in md
    assert not (out / "lecun1989" / "usps_budget_misclassified.png").exists()


def test_final_runs_only(tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(make_sweep(tmp_path, only="final")), "--out", str(out)]) == 0
    assert "| `b_second` |  | 9,750 | 100 | — | — | 2.50 ± 0.50 | -1.50 |" in _md(out)


def test_same_records_give_byte_identical_table_csv_and_figures(tmp_path):
    runs = make_sweep(tmp_path)
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        assert repro_main(["report", str(runs), "--out", str(out)]) == 0
        outs.append({p.name: p.read_bytes() for p in sorted((out / "lecun1989").glob("usps_budget*"))})
    assert sorted(outs[0]) == ["usps_budget.csv", "usps_budget.md", "usps_budget_misclassified.png",
                               "usps_budget_params.png"]
    assert outs[0] == outs[1]


def test_test_time_augmentation_has_its_own_column_from_the_final_runs(tmp_path):
    runs = make_sweep(tmp_path)
    for d in (runs / "usps_budget").glob("*_b_second_*"):
        m = json.loads((d / "metrics.json").read_text())
        split = "test" if "test" in m["final"] else "holdout"
        # One point below the plain error: the column must show the tta numbers, not the plain ones.
        m["tta"] = {"views": "9", split: {"error": m["final"][split]["error"] - 1.0, "misses": 0}}
        (d / "metrics.json").write_text(json.dumps(m))
    out = tmp_path / "results"
    assert repro_main(["report", str(runs), "--out", str(out)]) == 0
    md = _md(out)
    assert "| `b_second` |  | 9,750 | 100 | 3.50 ± 0.50 | -1.00 | 2.50 ± 0.50 | -1.50 | 1.50 ± 0.50 | 1.50 ± 0.50 | 3 / 3 |" in md
    assert "| `a_first` |  | 9,760 | 23 | 4.50 ± 0.71 | — | 4.00 ± 1.00 | — | 0.50 ± 0.00 | — | 2 / 3 |" in md
    assert "With test-time augmentation (its own column: nine views per digit) it is 1.50 ± 0.50%, at or below" in md
    csv = pd.read_csv(out / "lecun1989" / "usps_budget.csv").set_index("row")
    assert csv.loc["b_second", "tta_validation_error_mean"] == 2.5 and csv.loc["b_second", "tta_test_error_mean"] == 1.5


def test_runs_that_collapsed_are_counted_beside_the_means(tmp_path):
    runs = make_sweep(tmp_path)
    (d,) = (runs / "usps_budget").glob("*_without_x_final_seed1")
    m = json.loads((d / "metrics.json").read_text())
    m["final"]["train"]["error"], m["final"]["test"]["error"] = 88.0, 89.5  # one class for nearly every digit
    (d / "metrics.json").write_text(json.dumps(m))
    out = tmp_path / "results"
    assert repro_main(["report", str(runs), "--out", str(out)]) == 0
    md = _md(out)
    # Still in the mean ((3.0 + 89.5) / 2), and said.
    assert "| `without_x` |  | 12,000 (over budget) | 4.25 ± 0.35 | +0.75 | 46.25 ± 61.16 (1 of 2 runs collapsed) |" in md
    assert "Some runs of `without_x` (0 validation, 1 final) collapsed (train error above 50%" in md

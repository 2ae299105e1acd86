"""The 2012 ablation table (cc_ablations) and its validation search (cc_ablations_tune) through
`repro report`, from synthetic records: rows grouped by config as rows.py groups them, means, SEs,
owed rows, the speed rows, the search's picks, and the headline's line."""

from __future__ import annotations

import math

import pandas as pd

from alexnet2012.report.cc_ablations import grid, sweep_rows
from repro.cli import main
from repro.train.record import RunDir, write_metrics

TRICKS = {"adamw": ["adamw"], "one_cycle": ["one_cycle"], "channels_last": ["channels_last"],
          "no_response_norm": ["no_response_norm"], "crop_flip": ["crop_flip"]}


def record(path, name, seed, final, table="cc_ablations", config=None, wall=900.0, hardware="test cpu"):
    """A finished alexnet2012 record as the command writes it: config (what rows.py groups by) and recipe."""
    path.mkdir(parents=True)
    trick2012 = config if config is not None else {t: {} for t in TRICKS.get(name, [])}
    cfg = {"name": name, "seed": seed, "table": table, "trick2012": trick2012, "trainer": {"epochs": 30}}
    write_metrics(RunDir(path), {
        "era": "alexnet2012", "name": name, "table": table, "data": "cifar10", "n_train": 50000, "n_test": 10000,
        "n_holdout": 0, "seed": seed, "passes": 30, "world_size": 1, "final": final, "wall_time_s": wall,
        "samples_per_s": 100.0, "config": cfg, "recipe": {"tricks": list(trick2012)},
        "environment": {"hardware": hardware, "git": {"commit": "abc"}},
    })


def final_of(error, ten=None):
    final = {"val": {"loss": 1.0, "error": error, "misses": int(error * 100), "top5_error": 1.0}}
    if ten is not None:
        final["val10"] = {"loss": 1.0, "error": ten, "misses": 1, "top5_error": 1.0}
    return final


def report(tmp_path, runs):
    (tmp_path / "lecun").mkdir(exist_ok=True)
    out = tmp_path / "results"
    assert main(["report", str(tmp_path / "lecun"), "--run-tables", str(runs), "--out", str(out)]) == 0
    return out / "alexnet2012"


def row_line(md, name):
    return next(line for line in md.splitlines() if line.startswith(f"| `{name}`"))


def test_the_ablation_table_groups_by_config_and_owes_what_is_missing(tmp_path):
    runs = tmp_path / "alexnet2012" / "runs"
    sweep = runs / "cc_ablations"
    record(sweep / "0_baseline_seed0", "baseline", 0, final_of(20.0))
    record(sweep / "1_baseline_seed1", "baseline", 1, final_of(22.0))
    record(sweep / "again" / "0_baseline_seed1", "baseline", 1, final_of(30.0))  # same config and seed: a duplicate
    record(sweep / "2_no_response_norm_seed0", "no_response_norm", 0, final_of(23.0))
    record(sweep / "3_no_response_norm_seed1", "no_response_norm", 1, final_of(25.0))
    record(sweep / "4_crop_flip_seed0", "crop_flip", 0, final_of(15.0, ten=14.0))  # seed 1 owed
    (sweep / "5_crop_flip_seed1").mkdir()  # started, no record yet
    (sweep / "5_crop_flip_seed1" / "config.yaml").write_text("name: crop_flip\nseed: 1\n")
    # adamw at two rates: two rows (a different config is a different row, never an extra seed)
    record(sweep / "6_adamw_seed0", "adamw", 0, final_of(19.0), config={"adamw": {"lr": 1.0}})
    record(sweep / "7_adamw_seed1", "adamw", 1, final_of(19.5), config={"adamw": {"lr": 1.0}})
    record(sweep / "8_adamw_seed0", "adamw", 0, final_of(18.0), config={"adamw": {"lr": 2.0}})
    record(sweep / "speed" / "0_channels_last_seed0", "channels_last", 0, final_of(21.2))
    out = report(tmp_path, runs)
    md = (out / "cc_ablations.md").read_text()
    # baseline: 20, 22 (the duplicate's 30 not counted): 21.00 ± 1.41
    assert "| `baseline` |" in md and "| 0, 1 | 21.00 ± 1.41 | 20.00; 22.00 | — | reference |" in row_line(md, "baseline")
    assert "duplicate of" in md and "0_baseline_seed1" in md
    # no_response_norm: 24 ± 1.41, +3.00 pp; SE of the difference sqrt(1 + 1) = 1.41 -> +2.1 SE
    line = row_line(md, "no_response_norm")
    assert "| 24.00 ± 1.41 |" in line and "+3.00 (+2.1 SE)" in line and "| done" in line
    assert "section 3.3" in line and "13% test error without it, 11% with" in line and "text not reached" in line
    line = row_line(md, "crop_flip")
    assert "| 15.00 | 15.00 | 14.00 | -6.00 (1 seed: no SE) |" in line
    assert "owed: seed 1 (1 run(s) started, not finished (running or interrupted))" in line
    adamw = [line for line in md.splitlines() if line.startswith("| `adamw`")]
    assert len(adamw) == 2 and "trick2012.adamw.lr=1.0" in adamw[0] and "trick2012.adamw.lr=2.0" in adamw[1]
    assert "owed: seed 1 (not run yet)" in adamw[1]
    assert "chosen by `experiment=cc_ablations_tune` (no finished search records: ran with 1, not yet chosen" in adamw[0]
    line = row_line(md, "channels_last")
    assert "speed row, owed to a GPU" in line and "agrees with baseline (within 2 baseline sd)" in line
    # Every row the sweep lists is in the table, run or not; the not-run ones owed.
    assert all(f"| `{name}`" in md for name in sweep_rows())
    assert "owed: seeds 0, 1 (not run yet)" in row_line(md, "dropout")
    assert "speed row, owed to a GPU; its CPU agreement check not run yet" in row_line(md, "torch_compile")
    assert "“This scheme reduces the top-1 and top-5 error rates by 0.4% and 0.3%" in row_line(md, "non_overlapping_pool")
    assert "was not reached" in md and "(not quoted from memory)" in md
    csv = pd.read_csv(out / "cc_ablations.csv")
    assert len(csv) == len(sweep_rows()) + 1  # adamw twice
    norm = csv[csv["row"] == "no_response_norm"].iloc[0]
    assert norm["diff_to_baseline"] == 3.0 and math.isclose(norm["diff_in_se"], 3 / math.sqrt(2))
    assert sorted(p.name for p in out.glob("cc_ablations*")) == ["cc_ablations.csv", "cc_ablations.md",
                                                                 "cc_ablations_error.png"]
    # The headline's "ablations at a glance" line, read from the generated table (`repro report` without
    # folders passes it results/, as it passes the 1989 stories).
    from alexnet2012.report.headline import stories
    from repro.report.headline import section

    (story,) = stories(tmp_path / "results")
    assert story.link == "alexnet2012/cc_ablations.md"
    assert story.text == ("layers-18pct (30 passes, CPU), `baseline` 21.00% test error (2 seeds); the largest change "
                          "is `crop_flip`: 15.00% (-6.00 pp); without response norm +3.00 pp (the paper's four-layer "
                          "CIFAR-10 net: 13% without, 11% with); 12 of 16 rows owed seeds")
    assert "- [cc_ablations](alexnet2012/cc_ablations.md): layers-18pct" in section([_era(story)])


def test_the_search_picks_the_lowest_holdout_error_and_the_ablation_row_says_whether_it_ran_with_it(tmp_path):
    runs = tmp_path / "alexnet2012" / "runs"
    holdout = lambda e: {"holdout": {"loss": 1.0, "error": e, "misses": 1, "top5_error": 1.0}}  # noqa: E731
    errors = {0.25: 30.0, 0.5: 25.0, 1.0: 24.0, 2.0: 26.0}  # 4 of the 5 adamw points; 4 (the edge) owed
    for i, (lr, e) in enumerate(errors.items()):
        record(runs / "cc_ablations_tune" / f"{i}_adamw_seed0", "adamw", 0, holdout(e), table="cc_ablations_tune",
               config={"adamw": {"lr": lr}})
    record(runs / "cc_ablations_tune" / "5_one_cycle_seed0", "one_cycle", 0, holdout(22.0), table="cc_ablations_tune",
           config={"one_cycle": {"peak": 8.0}})
    record(runs / "cc_ablations" / "0_adamw_seed0", "adamw", 0, final_of(20.0), config={"adamw": {"lr": 2.0}})
    record(runs / "cc_ablations" / "0_one_cycle_seed0", "one_cycle", 0, final_of(20.0), config={"one_cycle": {"peak": 8.0}})
    out = report(tmp_path, runs)
    md = (out / "cc_ablations_tune.md").read_text()
    assert "- `adamw`: **lr = 1** (holdout error 24.00%), provisional: 4 of 5 points finished; set " \
           "`trick2012.adamw.lr: 1` in `conf/alexnet2012/row/cc_ablations/adamw.yaml`." in md
    assert "**peak = 8** (holdout error 22.00%), provisional: 1 of 4 points finished: at an edge of the grid" in md
    assert "| `adamw` | lr | 4 | — | — | owed: not finished" in md
    assert "| `adamw` | lr | 1 | 0 | 50,000 / 0 | 24.00 |" in md and md.count("**picked**") == 2
    csv = pd.read_csv(out / "cc_ablations_tune.csv")
    assert list(csv["value"]) == [v for _, _, v in grid()] and csv["picked"].sum() == 2
    ablations = (out / "cc_ablations.md").read_text()
    assert "ran with lr = 2, but the search picked 1 (cc_ablations_tune.md): rerun this row" in row_line(ablations, "adamw")
    assert "peak = 8, as picked on validation" in row_line(ablations, "one_cycle")


def test_the_row_files_run_the_picked_values_once_the_search_is_committed():
    # After `repro report` has written results/alexnet2012/cc_ablations_tune.csv, the ablation rows must run
    # the picks (their values are set by hand from the table: this keeps them from silently disagreeing).
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    csv = root / "results" / "alexnet2012" / "cc_ablations_tune.csv"
    rows = root / "conf" / "alexnet2012" / "row" / "cc_ablations"
    picked = pd.read_csv(csv) if csv.is_file() else pd.DataFrame(columns=["trick", "parameter", "value", "picked"])
    for _, p in picked[picked["picked"]].iterrows():
        row = yaml.safe_load((rows / f"{p['trick']}.yaml").read_text())
        assert float(row["trick2012"][p["trick"]][p["parameter"]]) == float(p["value"]), p["trick"]
    for trick, param in (("adamw", "lr"), ("one_cycle", "peak")):  # the rows name the value they run
        assert param in yaml.safe_load((rows / f"{trick}.yaml").read_text())["trick2012"][trick]


def _era(story):
    from repro.report.headline import EraHeadline

    return EraHeadline(year=2012, stories=[story])


def test_a_search_that_never_evaluates_the_test_images_needs_a_validation_split():
    import pytest

    from alexnet2012.data import ImageDataConfig
    from repro.config import ConfigError, parse

    with pytest.raises(ConfigError, match=r"evaluate_test=false needs a validation split \(data.val_size > 0\)"):
        parse(ImageDataConfig, {"name": "cifar10", "image_size": 32, "evaluate_test": False}, "data")
    assert not parse(ImageDataConfig, {"name": "cifar10", "image_size": 32, "evaluate_test": False,
                                       "val_size": 5000}, "data").evaluate_test

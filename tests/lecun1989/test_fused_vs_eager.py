"""The fused_vs_eager experiment (issue 20): its rows are ablate_each's, run on both
backends, and its agreement table (lecun1989/report/fused_vs_eager.py) computes the
difference of means, the combined standard error and the verdict as stated.

Synthetic samples use multiples of 0.5 so every mean, sd and SE below is exact in
binary: fused [5, 5.5, 6, 6.5, 7] has mean 6, sample variance 0.625, and against an
eager sample of the same spread SE = sqrt(0.625/5 + 0.625/5) = 0.5 exactly."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lecun1989.cli import CONF_DIR
from lecun1989.report.fused_vs_eager import AGREE, DISAGREE, WITHIN_2, compare, verdict
from repro.cli import main as repro_main

FUSED = [5.0, 5.5, 6.0, 6.5, 7.0]


def shifted(d):
    return [x - d for x in FUSED]


@pytest.mark.parametrize("shift, ratio, expected", [
    (0.25, 0.5, AGREE),
    (0.5, 1.0, AGREE),      # exactly 1 SE: still within it
    (0.75, 1.5, WITHIN_2),
    (1.0, 2.0, WITHIN_2),   # exactly 2 SE
    (1.5, 3.0, DISAGREE),
    (-1.5, 3.0, DISAGREE),  # eager worse by as much: the same verdict
])
def test_difference_se_and_verdict(shift, ratio, expected):
    c = compare(FUSED, shifted(shift))
    assert c["fused_mean"] == 6.0 and c["eager_mean"] == 6.0 - shift and c["difference"] == shift
    assert c["fused_sd"] == pytest.approx(math.sqrt(0.625)) and c["eager_sd"] == pytest.approx(math.sqrt(0.625))
    assert c["combined_se"] == 0.5 and c["diff_over_se"] == ratio and c["verdict"] == expected


def test_se_uses_each_backends_own_spread_and_count():
    # fused sd² 0.625 over 5 seeds, eager [6, 8] sd² 2 over 2 seeds: SE² = 0.125 + 1.0.
    c = compare(FUSED, [6.0, 8.0])
    assert c["eager_seeds"] == 2 and c["difference"] == -1.0
    assert c["combined_se"] == pytest.approx(math.sqrt(1.125)) and c["verdict"] == AGREE


def test_zero_spread_and_too_few_seeds():
    assert compare([5.0] * 3, [5.0] * 3)["verdict"] == AGREE          # identical: SE 0, difference 0
    assert compare([5.0] * 3, [5.5] * 3)["verdict"] == DISAGREE       # SE 0, any difference is too much
    assert compare([5.0], FUSED)["verdict"] == "too few seeds" and verdict(float("nan")) == "too few seeds"


def write_record(d: Path, name: str, backend: str, seed: int, test: float, tricks=("dropout",)):
    d.mkdir(parents=True)
    config = {"name": name, "seed": seed, "table": "fused_vs_eager", "trick": {t: {} for t in tricks},
              "trainer": {"backend": backend, "progress": False}}
    m = {"status": "complete", "era": "lecun1989", "name": name, "table": "fused_vs_eager", "data": "usps",
         "n_train": 7291, "seed": seed, "passes": 23, "backend": backend, "config": config,
         "tricks": [{"name": t, "params": {}, "changed": []} for t in tricks],
         "final": {"train": {"loss": 0.01, "error": 1.0, "misses": 73},
                   "test": {"loss": 0.1, "error": test, "misses": round(test * 20.07)}},
         "wall_time_s": 5.0 if backend == "fused_cpu" else 200.0, "train_time_s": 4.0,
         "samples_per_s": 40000.0 if backend == "fused_cpu" else 1000.0,
         "environment": {"hardware": "Test CPU", "git": {"commit": "abc1234def"}, "torch": "2.14.1"}}
    (d / "metrics.json").write_text(json.dumps(m))


@pytest.fixture
def sweep(tmp_path):
    """all_but_more_passes (written first: the report orders rows as the sweep does) disagrees,
    only_dropout agrees, only_augment_shift has no eager runs; one fused record is a copy."""
    root = tmp_path / "runs" / "fused_vs_eager"
    rows = {"all_but_more_passes": (FUSED, shifted(1.5)), "only_dropout": (FUSED, shifted(0.25)),
            "only_augment_shift": (FUSED, [])}
    job = 0
    for name, by in rows.items():
        for backend, errors in zip(("fused_cpu", "eager"), by):
            for seed, err in enumerate(errors):
                write_record(root / f"{job}_{name}_seed{seed}", name, backend, seed, err)
                job += 1
    write_record(root / f"{job}_only_dropout_seed0", "only_dropout", "fused_cpu", 0, 9.0)  # a second seed 0
    return root


def test_report_writes_the_agreement_table(sweep, tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(sweep), "--out", str(out)]) == 0
    md = (out / "lecun1989" / "fused_vs_eager.md").read_text()
    lines = [line for line in md.split("## Runs")[0].splitlines() if line.startswith("| `")]
    assert lines == [
        "| `only_dropout` | 5 / 5 | 6.00 ± 0.79 | 5.75 ± 0.79 | +0.25 | 0.50 | 0.50 | agree (within 1 SE) | 40000 / 1000 |",
        "| `only_augment_shift` | 5 / 0 | 6.00 ± 0.79 | — | — | — | — | no eager runs | — / — |",
        "| `all_but_more_passes` | 5 / 5 | 6.00 ± 0.79 | 4.50 ± 0.79 | +1.50 | 0.50 | 3.00 | disagree | 40000 / 1000 |",
    ]
    assert "| `only_dropout` | 0 | 5.00 | 4.75 | +0.25 | 5 | 200 | abc1234def |" in md
    assert "## Skipped records" in md and "duplicate of" in md.split("## Skipped records")[1]  # 9.0 never averaged
    csv = pd.read_csv(out / "lecun1989" / "fused_vs_eager.csv").set_index("row")
    assert list(csv.index) == ["only_dropout", "only_augment_shift", "all_but_more_passes"]
    r = csv.loc["all_but_more_passes"]
    assert (r["fused_mean"], r["eager_mean"], r["difference"], r["combined_se"], r["diff_over_se"]) == (6, 4.5, 1.5, 0.5, 3)
    assert r["verdict"] == DISAGREE and csv.loc["only_dropout", "verdict"] == AGREE
    png = out / "lecun1989" / "fused_vs_eager_error.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in md


def composed(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("lecun1989", overrides=list(overrides)), resolve=True)


@pytest.mark.parametrize("row", ["only_dropout", "only_augment_shift", "all_but_more_passes"])
def test_rows_are_ablate_each_rows_on_a_named_backend(row):
    ours = composed("experiment=fused_vs_eager", f"+row/fused_vs_eager={row}", "trainer.backend=eager")
    theirs = composed("experiment=ablate_each", f"+row/ablate_each={row}")
    assert ours["trick"] and ours["name"] == row and ours["table"] == "fused_vs_eager"
    assert ours["trainer"].pop("backend") == "eager" and theirs["trainer"].pop("backend") == "auto"
    ours.pop("table"), theirs.pop("table")
    assert ours == theirs


def test_the_sweep_runs_each_row_on_both_backends():
    import yaml

    params = yaml.safe_load((Path(CONF_DIR) / "experiment" / "fused_vs_eager.yaml").read_text())["hydra"]["sweeper"]["params"]
    assert params == {"+row/fused_vs_eager": "only_dropout,only_augment_shift,all_but_more_passes",
                      "trainer.backend": "fused_cpu,eager"}
    assert sorted(p.stem for p in (Path(CONF_DIR) / "row" / "fused_vs_eager").glob("*.yaml")) == sorted(
        params["+row/fused_vs_eager"].split(","))

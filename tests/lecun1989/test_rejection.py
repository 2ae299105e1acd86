"""The paper's rejection figure (issue 31): margins, the error-versus-rejection curve and the
rejection for 1% error on hand-made examples; the record a real run writes; the report's
files from fixture records."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch

from lecun1989.cli import run
from lecun1989.data import DataConfig, load_data
from lecun1989.model import ModelConfig, build_model
from lecun1989.rejection import REJECTION, margins, read_rejection, rejection_curve, rejection_for_error
from lecun1989.report.rejection import error_at
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lecun1989.cli import CONF_DIR
from repro.cli import main as repro_main


def small(root, *overrides):
    """A real run on the toy USPS files (60 training, 30 test digits), 2 passes."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("lecun1989", overrides=[f"data.root={root}", "trainer.progress=false", "data.verify=false",
                                              "data.val_size=20", "trainer.epochs=2", "model.init_fan_in_power=0.5",
                                              *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def test_margin_is_the_gap_between_the_two_largest_outputs_and_correct_is_the_top_one():
    out = torch.tensor([[0.9, -0.2, 0.5], [-1.0, -0.1, -0.3], [0.0, 0.2, 0.2]])
    margin, correct = margins(out, torch.tensor([0, 2, 1]))
    assert margin.tolist() == pytest.approx([0.4, 0.2, 0.0])
    assert correct.tolist() == [True, False, True]  # a tie at the top: argmax's first, margin 0


def test_the_curve_rejects_the_smallest_margins_first_and_counts_error_on_the_kept():
    # Five digits; the two wrong ones have the two smallest margins.
    margin = np.array([0.8, 0.1, 0.5, 0.3, 0.7])
    correct = np.array([True, False, True, False, True])
    rejected, error = rejection_curve(margin, correct)
    assert rejected.tolist() == [0, 20, 40, 60, 80, 100]
    assert error.tolist() == pytest.approx([40.0, 25.0, 0.0, 0.0, 0.0, 0.0])  # 2/5, 1/4, 0/3, ...; none kept: 0
    assert rejection_for_error(margin, correct) == 40.0  # 1% needs both wrong digits out
    assert rejection_for_error(margin, correct, target=25.0) == 20.0
    assert rejection_for_error(margin, correct, target=40.0) == 0.0


def test_digits_of_equal_margin_are_rejected_together():
    # A wrong and a right digit share the smallest margin: no threshold rejects one without the other.
    margin = np.array([0.2, 0.2, 0.9, 0.6])
    correct = np.array([False, True, True, True])
    rejected, error = rejection_curve(margin, correct)
    assert rejected.tolist() == [0, 50, 75, 100]
    assert error.tolist() == pytest.approx([25.0, 0.0, 0.0, 0.0])
    assert rejection_for_error(margin, correct) == 50.0


def test_one_percent_with_a_wrong_digit_left_among_enough_kept_ones():
    # 200 digits, wrong at the 3 smallest margins and one at a large margin: rejecting 2 leaves
    # 2/198 = 1.01% (too many), rejecting 3 leaves 1/197 = 0.51%.
    margin = np.arange(1, 201) / 100.0
    correct = np.ones(200, bool)
    correct[[0, 1, 2, 150]] = False
    assert rejection_for_error(margin, correct) == 1.5
    assert rejection_for_error(margin, np.ones(200, bool)) == 0.0  # no error: nothing to reject


def test_a_curve_read_on_a_grid_is_the_error_after_rejecting_at_least_that_share():
    rejected, error = np.array([0.0, 20.0, 40.0, 100.0]), np.array([40.0, 25.0, 0.0, 0.0])
    grid = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 100.0])
    assert error_at(rejected, error, grid).tolist() == [40.0, 25.0, 25.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("backend", ["eager", "fused_cpu"])
def test_a_real_run_records_margins_and_correctness_of_every_test_digit(usps_root, tmp_path, backend):
    cfg = small(usps_root, f"trainer.backend={backend}")
    metrics = run(cfg, tmp_path / "run")
    margin, correct = read_rejection(tmp_path / "run")
    assert margin.dtype == np.float32 and margin.shape == correct.shape == (30,)  # the toy set's 30 test digits
    with np.load(tmp_path / "run" / "misclassified.npz") as missed:
        assert np.flatnonzero(~correct).tolist() == missed["index"].tolist()
    assert int((~correct).sum()) == metrics["final"]["test"]["misses"]
    # The margins are the final network's: recomputed here from model.pt and the test digits.
    model = build_model(ModelConfig(**cfg["model"]), 0)
    model.load_state_dict(torch.load(tmp_path / "run" / "model.pt"))
    digits = load_data(DataConfig(**{k: v for k, v in cfg["data"].items()}))
    with torch.no_grad():
        expected, _ = margins(model.eval()(digits.x_test), digits.y_test)
    np.testing.assert_allclose(margin, expected, rtol=0, atol=1e-6)
    assert metrics["rejection"] == {
        "file": REJECTION, "criterion": "reject the digits with the smallest margin between the two largest outputs",
        "test_rejection_for_1pct_error": rejection_for_error(margin, correct)}
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["rejection"] == metrics["rejection"]


def test_a_run_that_never_reads_the_test_digits_records_no_rejection(usps_root, tmp_path):
    metrics = run(small(usps_root, "data.evaluate_test=false", "trainer.backend=fused_cpu"), tmp_path / "blind")
    assert "rejection" not in metrics and read_rejection(tmp_path / "blind") is None
    assert not (tmp_path / "blind" / REJECTION).exists()


def write_rejection_record(d, wrong_ranks, n=200):
    """Margins 0.01 .. n/100 in a shuffled order; the digits at the given margin ranks are wrong."""
    margin = (np.arange(1, n + 1) / 100.0).astype(np.float32)
    correct = np.ones(n, bool)
    correct[list(wrong_ranks)] = False
    perm = np.random.default_rng(len(wrong_ranks)).permutation(n)
    buf = io.BytesIO()
    np.savez_compressed(buf, margin=margin[perm], correct=correct[perm])
    (d / REJECTION).write_bytes(buf.getvalue())


# Seed -> wrong margin ranks, and the rejection for 1% error they give (200 digits each):
# seed 0: 5 smallest + the largest: rejecting 4 leaves 2/196 = 1.02%, 5 leaves 1/195 -> 2.5%;
# seed 1: 3 smallest + one at rank 150 -> 1.5%; seed 2: 10 smallest: 9 out leaves 1/191 -> 4.5%.
FIXTURE = {"s0": [0, 1, 2, 3, 4, 199], "s1": [0, 1, 2, 150], "s2": list(range(10))}


def test_the_report_draws_the_curve_and_the_rejection_over_seeds_from_the_records(records, tmp_path):
    for run_dir, ranks in FIXTURE.items():
        write_rejection_record(records / run_dir, ranks)
    out = tmp_path / "results"
    assert repro_main(["report", str(records), "--out", str(out)]) == 0
    folder = out / "lecun1989"
    md = (folder / "baseline_rejection.md").read_text()
    # 2.5, 1.5, 4.5: mean 2.83, sample sd 1.53; test error without rejection from metrics.json: 5.5 ± 0.5.
    assert "| **baseline** | USPS | 3 | 5.50 ± 0.50 | 2.8 ± 1.5 |" in md
    assert "| LeCun et al. 1989 (paper) | USPS | — | 5.00 | not found (the paper's text was not reachable) |" in md
    assert "12.1% rejection" in md and "9% reject rate" in md  # what was found, each with its source
    per_seed = [line for line in md.splitlines() if line.startswith("| baseline |")]
    assert [line.split(" | ")[4] for line in per_seed] == ["2.50", "1.50", "4.50"]
    assert "(baseline_rejection.md)" in (folder / "baseline.md").read_text()  # the baseline table links it
    csv = pd.read_csv(folder / "baseline_rejection.csv")
    ours = csv[csv["source"] == "ours"].iloc[0]
    # The CSV keeps 6 significant digits.
    assert ours["rejection_mean"] == pytest.approx(17 / 6, abs=1e-5)
    assert ours["rejection_sd"] == pytest.approx(np.sqrt(7 / 3), abs=1e-5)
    assert np.isnan(csv[csv["source"] != "ours"].iloc[0]["rejection_mean"])  # the paper's: not found, left empty
    png = (folder / "baseline_rejection.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # The same records give the same bytes.
    again = tmp_path / "again"
    repro_main(["report", str(records), "--out", str(again)])
    for name in ("baseline_rejection.md", "baseline_rejection.csv", "baseline_rejection.png"):
        assert (again / "lecun1989" / name).read_bytes() == (folder / name).read_bytes()


def test_records_without_the_file_give_no_rejection_files(records, tmp_path):
    out = tmp_path / "results"
    assert repro_main(["report", str(records), "--out", str(out)]) == 0
    assert not list((out / "lecun1989").glob("*rejection*"))
    assert "rejection" not in (out / "lecun1989" / "baseline.md").read_text()

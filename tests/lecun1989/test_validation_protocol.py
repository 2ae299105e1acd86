"""Issue 21's validation protocol: `data.evaluate_test=false` runs never evaluate the test digits.

A search on the validation split must not see the test set even by accident: no test
numbers in metrics.json, history.csv or misclassified.npz, a sweep objective that is the
holdout error, and reports that show the missing test error as missing (NaN), never 0.
"""

import csv
import json
import math
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lecun1989.cli import CONF_DIR, run
from repro.app import sweep_objective
from repro.report.collect import collect
from repro.train.checkpoint import with_added_keys


def config(root, *overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("lecun1989", overrides=[f"data.root={root}", "trainer.progress=false", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def small(root, *overrides):
    # 20 of the 60 toy training digits held out; the 2.4/sqrt(F) init learns within a toy set's few steps.
    return config(root, "data.verify=false", "data.val_size=20", "trainer.epochs=2", "model.init_fan_in_power=0.5",
                  *overrides)


@pytest.mark.parametrize("backend", ["eager", "fused_cpu"])
def test_a_validation_run_records_no_test_split_anywhere(usps_root, tmp_path, backend):
    blind = run(small(usps_root, "data.evaluate_test=false", f"trainer.backend={backend}"), tmp_path / "blind")
    seen = run(small(usps_root, f"trainer.backend={backend}"), tmp_path / "seen")
    assert list(blind["final"]) == ["train", "holdout"]
    assert list(seen["final"]) == ["train", "holdout", "test"]
    # Not evaluating the test digits changes nothing else: the same training, the same holdout numbers.
    assert blind["final"] == {k: seen["final"][k] for k in ("train", "holdout")}
    assert (blind["n_train"], blind["n_holdout"], blind["passes"]) == (40, 20, 2)
    header = (tmp_path / "blind" / "history.csv").read_text().splitlines()[0].split(",")
    assert [c for c in header if c.startswith("test")] == []
    assert {"holdout_error", "holdout_misses", "holdout_loss", "train_error"} <= set(header)
    assert "test_error" in (tmp_path / "seen" / "history.csv").read_text().splitlines()[0].split(",")
    files = {p.name for p in (tmp_path / "blind").iterdir()}
    assert "model.pt" in files and "misclassified.npz" not in files
    assert "misclassified.npz" in {p.name for p in (tmp_path / "seen").iterdir()}
    # A sweep's objective is the holdout error (here, with no test error to mistake it for).
    assert sweep_objective(blind) == blind["final"]["holdout"]["error"]
    history = list(csv.DictReader(open(tmp_path / "blind" / "history.csv")))
    assert float(history[-1]["holdout_error"]) == pytest.approx(blind["final"]["holdout"]["error"])


def test_collect_gives_a_validation_record_no_test_error(usps_root, tmp_path):
    run(small(usps_root, "data.evaluate_test=false", "trainer.backend=fused_cpu"), tmp_path / "runs" / "blind")
    df, skipped = collect([tmp_path / "runs"])
    assert skipped == [] and len(df) == 1
    row = df.iloc[0]
    assert math.isnan(row["test_error"]) and math.isnan(row["test_loss"]) and row["test_misses"] == -1
    metrics = json.loads((tmp_path / "runs" / "blind" / "metrics.json").read_text())
    assert row["train_error"] == metrics["final"]["train"]["error"]


def test_evaluate_test_false_without_a_validation_split_is_refused(usps_root, tmp_path):
    # Through the command, as users meet it: one error line, exit 2, no run folder.
    out = subprocess.run([sys.executable, "-m", "lecun1989.cli", f"data.root={usps_root}", "data.verify=false",
                          "data.evaluate_test=false", f"hydra.run.dir={tmp_path / 'run'}"],
                         capture_output=True, text=True, timeout=300)
    assert (out.returncode, out.stderr.splitlines()) == (2, [
        "error: data: evaluate_test=false needs a validation split (data.val_size > 0): "
        "a run must evaluate something besides its training digits"])
    assert not (tmp_path / "run").exists()


def test_the_protocol_group_composes_to_the_stated_values(usps_root):
    assert config(usps_root)["data"]["evaluate_test"] is True  # the paper's protocol by default
    validation = config(usps_root, "+protocol=validation")["data"]
    assert (validation["val_size"], validation["val_seed"], validation["evaluate_test"]) == (2000, 0, False)
    final = config(usps_root, "+protocol=final")["data"]
    assert (final["val_size"], final["evaluate_test"]) == (0, True)
    # A command-line value wins over the group's (a toy run of the validation protocol).
    assert config(usps_root, "+protocol=validation", "data.val_size=20")["data"]["val_size"] == 20
    assert config(usps_root, "data=mnist16", "+protocol=validation")["data"]["evaluate_test"] is False


def test_records_from_before_the_switch_resume_as_evaluating_the_test_digits():
    assert with_added_keys({"data.val_size": 0})["data.evaluate_test"] is True

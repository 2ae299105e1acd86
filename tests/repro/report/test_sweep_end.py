"""The summary a multirun prints at its end (repro.report.sweep_end.SweepSummary)."""

from __future__ import annotations

import logging

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from repro.report.sweep_end import SweepSummary, summary_lines


def hydra_config(sweep) -> object:
    return OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})


def test_one_line_per_row_with_seeds_errors_diverged_and_duplicates(lr_sweep, capsys):
    assert issubclass(SweepSummary, Callback)
    SweepSummary().on_multirun_end(hydra_config(lr_sweep))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"sweep {lr_sweep}: 4 finished run(s) in 3 row(s)"
    header, *rows = [line.split("  ") for line in out[1:5]]
    cells = [[c.strip() for c in line if c.strip()] for line in [header, *rows]]
    assert cells[0] == ["row", "seeds", "train error %", "test error %", "diverged", "duplicates"]
    assert cells[1] == ["baseline optim.lr=0.01", "2", "29.00 ± 1.41", "32.00 ± 2.83", "0", "0"]
    assert cells[2] == ["baseline optim.lr=0.1", "2", "3.50 ± 0.71", "8.50 ± 0.71", "0", "1"]
    assert cells[3] == ["baseline optim.lr=1.0", "0", "—", "—", "1", "0"]
    assert out[-1] == f"tables and plots: repro report {lr_sweep}"


def test_a_failed_summary_is_a_warning_never_an_error(tmp_path, caplog, capsys):
    with caplog.at_level(logging.WARNING, logger="repro.report.sweep_end"):
        SweepSummary().on_multirun_end(hydra_config(tmp_path / "gone"))
        SweepSummary().on_multirun_end(OmegaConf.create({}))  # no hydra.sweep.dir at all
    assert len(caplog.records) == 2
    assert "no sweep summary (FileNotFoundError: no such run directory" in caplog.records[0].getMessage()
    assert capsys.readouterr().out == ""


def test_unfinished_jobs_are_named_and_a_single_row_has_no_settings(tmp_path):
    from .conftest import sweep_job

    sweep = tmp_path / "s"
    sweep_job(sweep / "0_baseline_seed0", 0, 5.0)
    sweep_job(sweep / "1_baseline_seed1", 1, 7.0)
    (sweep / "2_baseline_seed2").mkdir()
    (sweep / "2_baseline_seed2" / "config.yaml").write_text("seed: 2\n")
    lines = summary_lines(sweep)
    assert lines[0] == f"sweep {sweep}: 2 finished run(s) in 1 row(s)"
    assert lines[2].split() == ["baseline", "2", "1.00", "±", "0.00", "6.00", "±", "1.41", "0", "0"]
    assert lines[3] == "  not finished or unreadable (not in any row): 2_baseline_seed2"

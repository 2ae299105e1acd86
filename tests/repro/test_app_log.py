"""repro.app.RunLogFile, the run folder's cli.log handler (conf/shared/hydra/job_logging/repro.yaml)."""

from __future__ import annotations

import logging
import shutil

import yaml

from repro.app import SHARED_CONF_DIR, RunLogFile, conf_dir
from repro.train import run as run_module


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("repro", logging.WARNING, __file__, 1, message, None, None)


def test_cli_log_is_written_only_once_a_run_has_claimed_its_folder(tmp_path, monkeypatch):
    handler = RunLogFile(str(tmp_path / "cli.log"))
    try:
        handler.emit(record("first"))  # before the claim (a run that may yet be refused): held
        assert not (tmp_path / "cli.log").exists()
        monkeypatch.setattr(run_module, "_owned", {str(tmp_path)})  # what claim_run does once the folder is the run's
        handler.emit(record("second"))
        handler.flush()
        assert (tmp_path / "cli.log").read_text() == "first\nsecond\n"
    finally:
        handler.close()


def test_a_run_refused_at_its_claim_writes_no_cli_log(tmp_path):
    handler = RunLogFile(str(tmp_path / "cli.log"))
    try:
        handler.emit(record("data: ..."))
    finally:
        handler.close()
    assert list(tmp_path.iterdir()) == []


def test_a_message_after_the_folder_was_removed_is_dropped_quietly(tmp_path, capsys):
    # A torchrun helper process's own folder is removed for rank 0's (alexnet2012/cli.py).
    folder = tmp_path / "own"
    folder.mkdir()
    handler = RunLogFile(str(folder / "cli.log"))
    run_module._owned.add(str(folder))
    shutil.rmtree(folder)
    try:
        handler.emit(record("a warning on rank 1"))
    finally:
        handler.close()
    assert not folder.exists()
    assert "Logging error" not in capsys.readouterr().err


def test_the_job_logging_config_uses_it():
    conf = yaml.safe_load(open(f"{SHARED_CONF_DIR}/hydra/job_logging/repro.yaml"))
    assert conf["handlers"]["file"]["class"] == "repro.app.RunLogFile"
    for era in ("lecun1989", "alexnet2012"):
        assert yaml.safe_load(open(f"{conf_dir(era)}/{era}.yaml"))["hydra"]["output_subdir"] is None

"""Ctrl-C while a command starts (torch still importing) is one line and exit 130,
not a KeyboardInterrupt traceback (issue 37, item 10; repro/startup.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.startup import MESSAGE, is_program


def _loading_torch(pid: int) -> bool:
    """Whether the process has mapped torch's C library: it is inside `import torch`."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("app", ["lecun1989", "alexnet2012"])
def test_ctrl_c_while_torch_imports_is_one_line_and_exit_130(tmp_path, app):
    proc = subprocess.Popen([sys.executable, "-m", f"{app}.cli", f"hydra.run.dir={tmp_path / 'run'}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not _loading_torch(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err.strip()) == (130, MESSAGE), err
    assert not (tmp_path / "run").exists()


def test_only_the_program_itself_turns_an_interrupt_into_an_exit(monkeypatch):
    entry = str(Path(__file__))
    monkeypatch.setattr(sys, "argv", ["/venv/bin/lecun1989"])
    assert is_program(entry, "lecun1989")
    monkeypatch.setattr(sys, "argv", [entry])  # python -m <that module>
    assert is_program(entry, "lecun1989")
    monkeypatch.setattr(sys, "argv", ["/x/hydra_plugins/repro_launcher/_worker.py"])  # a sweep job unpickling it
    assert not is_program(entry, "lecun1989")

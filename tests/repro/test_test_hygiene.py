"""The suite passes however it is launched (issue 44): started with SIGINT ignored
(`nohup python -m pytest &`), its Ctrl-C tests still interrupt what they start; and
torch.compile works in a cache of the session's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_tests_pass_when_pytest_starts_with_sigint_ignored():
    # What the shell does for `cmd &` without job control: SIGINT ignored in the child.
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                          "tests/repro/test_startup.py::test_ctrl_c_while_torch_imports_is_one_line_and_exit_130"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert out.returncode == 0, out.stdout[-3000:]
    assert "2 passed" in out.stdout


def test_each_test_has_the_default_sigint_handler():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_inductor_cache_is_this_sessions_own():
    cache = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    assert cache.is_dir() and cache.parent == Path(tempfile.gettempdir())
    assert cache.name.startswith("repro-tests-inductor-")

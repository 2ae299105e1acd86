"""`<command> --help | head -1`: a reader that goes away is no traceback, for every
console script pyproject.toml declares (issue 44, cause 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].items())


@pytest.mark.parametrize("name,entry", SCRIPTS, ids=[n for n, _ in SCRIPTS])
def test_help_into_a_closed_pipe_exits_quietly(name, entry):
    module, func = entry.split(":")
    # The console script's own code, as pip writes it (argv[0] its name), with stdout a pipe
    # whose reader has already gone: every write fails as after `| head -1`.
    code = f"import sys; sys.argv[0] = {name!r}; from {module} import {func}; sys.exit({func}())"
    read, write = os.pipe()
    os.close(read)
    try:
        out = subprocess.run([sys.executable, "-c", code, "--help"], stdout=write, stderr=subprocess.PIPE,
                             text=True, timeout=300, cwd=ROOT)
    finally:
        os.close(write)
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr
    assert out.stderr == "" and out.returncode in (0, 141), (out.returncode, out.stderr)

"""CI must not pass by skipping: with $REPRO_REQUIRE_SHARED_DATA (set by .ci/run) or $CI,
a missing shared data folder fails the real-data tests with a message saying why;
locally they skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/repro/data/test_shared_data.py::test_usps_verifies_by_content"


def pytest_without_data(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "REPRO_REQUIRE_SHARED_DATA")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
                          env={**base, "REPRO_SHARED_DATA": str(tmp_path / "no_data"), "OMP_NUM_THREADS": "1", **env},
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env", [{"REPRO_REQUIRE_SHARED_DATA": "1"}, {"CI": "true"}])
def test_missing_shared_data_fails_in_ci(tmp_path, env):
    done = pytest_without_data(tmp_path, **env)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "1 error" in done.stdout  # failed in the fixture, before the test body
    assert f"shared data not found at {tmp_path / 'no_data'}" in done.stdout
    assert "so the real-data tests must run" in done.stdout


def test_missing_shared_data_skips_locally(tmp_path):
    done = pytest_without_data(tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 skipped" in done.stdout and "shared data not found" in done.stdout


def test_ci_script_requires_the_shared_data():
    assert "export REPRO_REQUIRE_SHARED_DATA=1" in (ROOT / ".ci" / "run").read_text()

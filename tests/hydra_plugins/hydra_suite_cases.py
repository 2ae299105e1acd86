"""Hydra's own launcher test suite for local_parallel; run by test_local_parallel.py in a fresh process."""

import pytest
from hydra.test_utils.launcher_common_tests import LauncherTestSuite


@pytest.mark.parametrize("launcher_name, overrides", [("local_parallel", ["hydra.launcher.n_jobs=2"])])
class TestHydraLauncherSuite(LauncherTestSuite):
    """The tests Hydra gives every launcher plugin (hydra.test_utils): sweeps of
    1 and 2 jobs and 2 batches, return values, task names, resolvers, errors."""

"""Every refusal of the alexnet2012 command (single run and sweep) leaves no folder behind
(issue 44, cause 4; the lecun1989 classes and the mechanism: tests/repro/test_folder_claim.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ENV.pop("REPRO_DATA_ROOT", None)


def app(name, *args):
    args = (["-m"] if "-m" in args else []) + [a for a in args if a != "-m"]  # Hydra reads flags first
    return subprocess.run([sys.executable, "-m", f"{name}.cli", *args], capture_output=True, text=True,
                          timeout=300, env=ENV)


EXPECTED = {"val_size_out_of_range": "data.val_size=100000", "missing_files": "missing data file", "root_is_a_file": "is a file"}
ALEX_REFUSALS = {
    "val_size_out_of_range": ["data.val_size=100000"],
    "missing_files": ["data.download=false"],
    "root_is_a_file": ["data.download=false"],
}


@pytest.mark.parametrize("how", ["run", "sweep"])
@pytest.mark.parametrize("case", sorted(ALEX_REFUSALS))
def test_every_alexnet2012_refusal_leaves_no_folder(cifar_root, tmp_path, case, how):
    root = {"missing_files": tmp_path / "empty_root", "root_is_a_file": tmp_path / "a_file"}.get(case, cifar_root)
    if case == "missing_files":
        root.mkdir()
    if case == "root_is_a_file":
        root.write_text("")
    out_dir = tmp_path / "new" / "run"
    where = [f"hydra.run.dir={out_dir}"] if how == "run" else ["-m", "seed=0,1", f"hydra.sweep.dir={out_dir}"]
    out = app("alexnet2012", "experiment=alexnet_cifar10", f"data.root={root}", "data.verify=false",
              "trainer.epochs=1", "trainer.threads=1", *ALEX_REFUSALS[case], *where)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert out.returncode == 2 and errors and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "unrecognized arguments" not in out.stderr and EXPECTED[case] in errors[0], out.stderr[-3000:]
    print(errors[0])
    assert not (tmp_path / "new").exists()

"""Places a command writes that cannot be written (read-only, a file): one
`error:` line that says so, exit 2, or a writable fallback that is announced;
and a data error raised in a DataLoader worker keeps its own message (issue 44,
causes 5 and 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repro import native_build
from repro.data.download import RemoteFile, ensure_file
from repro.data.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "results" / "lecun1989" / "runs" / "baseline_fused_cpu"  # five small committed records


def read_only_run(folder: Path, argv: list[str], env=None) -> subprocess.CompletedProcess:
    """``argv`` with ``folder`` read-only: chmod where permissions bind, else (root) a read-only
    bind mount in a private mount namespace; skipped where neither is possible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
        finally:
            folder.chmod(0o755)
    if shutil.which("unshare") is None:
        pytest.skip("root without unshare: cannot make a read-only folder")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind -o ro '{folder}' '{folder}'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {probe.stderr.strip()}")
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(folder), *argv],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def repro_cmd(*args):
    return [sys.executable, "-c", "import sys; from repro.cli import main; sys.argv[0] = 'repro'; sys.exit(main())",
            *args]


def one_error_line(out, starts: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(starts), out.stderr


@pytest.fixture
def sweep(tmp_path):
    if not RUNS.is_dir():
        pytest.skip(f"{RUNS} not here")
    shutil.copytree(RUNS, tmp_path / "ro" / "sweep")
    return tmp_path / "ro" / "sweep"


def test_report_and_runs_into_a_file_are_one_line(sweep, tmp_path):
    (tmp_path / "afile").write_text("x")
    for args in (["report", str(sweep), "--out", str(tmp_path / "afile")],
                 ["runs", str(sweep), "--out", str(tmp_path / "afile" / "t")]):
        out = subprocess.run(repro_cmd(*args), capture_output=True, text=True, timeout=300, cwd=ROOT)
        one_error_line(out, f"error: --out {tmp_path / 'afile'}")
    (tmp_path / "t.md").mkdir()  # a folder where a table file goes
    out = subprocess.run(repro_cmd("runs", str(sweep), "--out", str(tmp_path / "t")), capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    one_error_line(out, f"error: cannot write {tmp_path / 't.md'}")


def test_a_report_beside_a_read_only_sweep_is_one_line(sweep):
    out = read_only_run(sweep.parent, repro_cmd("report", str(sweep)))
    one_error_line(out, f"error: cannot write {sweep / 'report'}")
    out = read_only_run(sweep.parent, repro_cmd("runs", str(sweep), "--out", str(sweep / "t")))
    one_error_line(out, f"error: --out {sweep / 't'}: ")


def test_build_dir_that_is_a_file_names_the_variable(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv(native_build.BUILD_DIR_ENV, str(tmp_path / "afile"))
    with pytest.raises(native_build.BuildDirError, match=r"^\$REPRO_BUILD_DIR=.*afile cannot hold"):
        native_build.build_dir("lecun1989", "net1989_cpu")


def test_a_read_only_checkout_builds_in_the_user_cache_and_says_so(tmp_path, monkeypatch, caplog):
    (tmp_path / "checkout").write_text("not a folder: nothing can be made below it")
    monkeypatch.setattr(native_build, "REPO", tmp_path / "checkout")
    monkeypatch.delenv(native_build.BUILD_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with caplog.at_level("INFO", logger="repro.native_build"):
        path = native_build.build_dir("lecun1989", "net1989_cpu")
    assert path == tmp_path / "cache" / "repro" / "build" / "lecun1989" / "net1989_cpu" and path.is_dir()
    assert f"building in {path}" in caplog.text and "REPRO_BUILD_DIR" in caplog.text


def test_a_run_with_an_unusable_build_dir_is_one_line(usps_root, tmp_path):
    (tmp_path / "afile").write_text("x")
    env = {**os.environ, native_build.BUILD_DIR_ENV: str(tmp_path / "afile")}
    out = subprocess.run([sys.executable, "-m", "lecun1989.cli", f"data.root={usps_root}", "data.verify=false",
                          "trainer.epochs=1", "trainer.backend=fused_cpu", "trainer.threads=1",
                          f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300, env=env)
    one_error_line(out, f"error: $REPRO_BUILD_DIR={tmp_path / 'afile'} cannot hold the compiled kernels")


def test_a_read_only_data_root_says_what_is_missing_and_why(tmp_path, monkeypatch):
    import tempfile

    (tmp_path / "root" / "usps").mkdir(parents=True)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    spec = RemoteFile(relpath="usps/zip.train.gz", urls=("https://example.invalid/zip.train.gz",))
    with pytest.raises(DataError) as exc:
        ensure_file(tmp_path / "root", spec, download=True)
    message = str(exc.value)
    assert message.startswith(f"missing data file usps/zip.train.gz: not found, and {tmp_path / 'root' / 'usps'} "
                              "is not writable (Permission denied)")
    assert ".part" not in message


def test_a_data_error_in_a_loader_worker_keeps_its_message():
    from torch.utils.data import DataLoader, Dataset

    class Bad(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise DataError("n01440764/bad.JPEG is not a readable image (truncated);\n  fix: replace it")

    with pytest.raises(DataError) as exc:
        list(DataLoader(Bad(), num_workers=1))
    assert str(exc.value) == "n01440764/bad.JPEG is not a readable image (truncated);\n  fix: replace it"

"""repro/native_build.py: a first build is announced before it starts and timed
after; a cached one loads silently; a failure is one BuildError naming the sources."""

from __future__ import annotations

import logging
import os
import time

import pytest

from repro import native_build
from repro.native_build import BuildError, load_extension, needs_build


@pytest.fixture
def fake_torch_build(monkeypatch):
    """cpp_extension.load replaced by one that 'compiles' by writing <name>.so."""
    import torch.utils.cpp_extension as cpp_extension

    calls = []

    def load(name, sources, build_directory, verbose, **kwargs):
        calls.append(name)
        if kwargs.get("fail"):
            raise RuntimeError("error: expected ';'")
        (native_build.Path(build_directory) / f"{name}.so").write_bytes(b"\x7fELF")
        return f"module {name}"

    monkeypatch.setattr(cpp_extension, "load", load)
    return calls


def test_needs_build_until_a_library_newer_than_every_source_exists(tmp_path):
    src = tmp_path / "k.cpp"
    src.write_text("int f();\n")
    out = tmp_path / "build"
    out.mkdir()
    assert needs_build(out, "k", [src])
    (out / "k.so").write_bytes(b"")
    assert not needs_build(out, "k", [src])
    later = time.time() + 10
    os.utime(src, (later, later))  # the source was edited after the build
    assert needs_build(out, "k", [src])


def test_the_first_use_is_announced_and_timed_the_cached_one_is_silent(tmp_path, monkeypatch, caplog, fake_torch_build):
    monkeypatch.setenv(native_build.BUILD_DIR_ENV, str(tmp_path / "build"))
    src = tmp_path / "k.cpp"
    src.write_text("int f();\n")
    with caplog.at_level(logging.INFO, logger="repro.native_build"):
        assert load_extension("fam", "k", [src]) == "module k"
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "building the fused kernel k (first use, about a minute)"
    assert messages[1].startswith("built k in ") and " s (cached in " in messages[1] and len(messages) == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="repro.native_build"):
        load_extension("fam", "k", [src], what="the LRN kernels")
    assert caplog.records == [] and fake_torch_build == ["k", "k"]


def test_a_failed_build_is_one_build_error_naming_the_sources(tmp_path, monkeypatch, fake_torch_build):
    monkeypatch.setenv(native_build.BUILD_DIR_ENV, str(tmp_path / "build"))
    src = tmp_path / "k.cpp"
    src.write_text("int f()\n")
    with pytest.raises(BuildError, match=r"building k from k.cpp failed: error: expected ';'"):
        load_extension("fam", "k", [src], fail=True)


def test_loading_an_extension_does_not_print_torchs_no_cuda_runtime_warning(tmp_path):
    """Without a GPU, importing torch.utils.cpp_extension logs "No CUDA runtime is found, using
    CUDA_HOME=..." (expected here: CUDA code compiles with nvcc anyway); our builds import it quietly.
    A fresh process: the warning comes once, at cpp_extension's first import."""
    import subprocess
    import sys

    code = ("from repro import native_build\n"
            "src = native_build.Path(r'%s') / 'k.cpp'\n"
            "src.write_text('#error stop here')\n"  # a real build that fails at once
            "try:\n"
            "    native_build.load_extension('test', 'k', [src])\n"
            "except native_build.BuildError as exc:\n"
            "    print('BuildError', str(exc)[:40])\n") % tmp_path
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "REPRO_BUILD_DIR": str(tmp_path / "build"), "CUDA_HOME": "/usr/local"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("BuildError building k from k.cpp failed"), out.stdout
    assert "No CUDA runtime is found" not in out.stderr, out.stderr

"""repro/native_build.py: the build cache is keyed by what is compiled, not where it lies (issue 44,
cause 8): two checkouts of the same sources sharing one REPRO_BUILD_DIR build once; every build is
announced in one line before it starts and timed after; a cached one loads silently; a failure is
one BuildError naming the sources."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from repro import native_build
from repro.native_build import BuildError, content_key, load_extension

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_torch_build(monkeypatch):
    """cpp_extension.load replaced by one that 'compiles' by writing <name>.so, and loading by reading it."""
    import torch.utils.cpp_extension as cpp_extension

    calls = []

    def load(name, sources, build_directory, verbose, **kwargs):
        calls.append((name, [Path(s) for s in sources], kwargs.get("extra_include_paths")))
        if kwargs.get("fail"):
            raise RuntimeError("error: expected ';'")
        (Path(build_directory) / f"{name}.so").write_bytes(b"\x7fELF" + b"".join(Path(s).read_bytes() for s in sources))
        return f"module {name}"

    monkeypatch.setattr(cpp_extension, "load", load)
    monkeypatch.setattr(native_build, "_import", lambda name, library, is_python_module: f"loaded {library.name}")
    return calls


def _checkout(root: Path, header: str = "#define K 1\n") -> Path:
    """A checkout's csrc/: a source and the header it includes."""
    csrc = root / "csrc"
    csrc.mkdir(parents=True, exist_ok=True)
    (csrc / "k.cpp").write_text('#include "k.h"\nint k() { return K; }\n')
    (csrc / "k.h").write_text(header)
    return csrc


def test_the_key_follows_contents_flags_and_versions_never_the_folder(tmp_path, monkeypatch):
    a, b = _checkout(tmp_path / "a"), _checkout(tmp_path / "b")
    key = content_key("k", [a / "k.cpp"], extra_cflags=["-O3"])
    assert content_key("k", [b / "k.cpp"], extra_cflags=["-O3"]) == key  # another checkout, same sources
    assert content_key("k", [a / "k.cpp"], extra_cflags=["-O2"]) != key  # a flag
    (b / "k.h").write_text("#define K 2\n")
    assert content_key("k", [b / "k.cpp"], extra_cflags=["-O3"]) != key  # an included header's content
    import torch

    monkeypatch.setattr(torch, "__version__", "0.0.0")
    assert content_key("k", [a / "k.cpp"], extra_cflags=["-O3"]) != key  # torch's version


def test_two_checkouts_share_one_build_and_every_build_is_announced(tmp_path, monkeypatch, caplog, fake_torch_build):
    monkeypatch.setenv(native_build.BUILD_DIR_ENV, str(tmp_path / "build"))
    a, b = _checkout(tmp_path / "a"), _checkout(tmp_path / "b")
    with caplog.at_level(logging.INFO, logger="repro.native_build"):
        assert load_extension("fam", "k", [a / "k.cpp"], extra_include_paths=[str(a)]) == "module k"
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("building the fused kernel k (new to the cache for these sources")
    assert messages[1].startswith("built k in ") and " s (cached in " in messages[1] and len(messages) == 2
    # Compiled from copies in the cache, so ninja's command lines never name the checkout.
    name, sources, includes = fake_torch_build[0]
    assert all(str(tmp_path / "build") in str(p) for p in [*sources, *includes])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="repro.native_build"):
        for csrc in (b, a, b):  # alternating checkouts of the same sources: loaded, never rebuilt
            assert load_extension("fam", "k", [csrc / "k.cpp"], extra_include_paths=[str(csrc)]) == "loaded k.so"
    assert caplog.records == [] and len(fake_torch_build) == 1
    (b / "k.h").write_text("#define K 2\n")  # a change to b: built, and said
    with caplog.at_level(logging.INFO, logger="repro.native_build"):
        load_extension("fam", "k", [b / "k.cpp"], extra_include_paths=[str(b)], what="the LRN kernels")
        assert caplog.records[0].getMessage().startswith("building the LRN kernels k (")
        caplog.clear()
        load_extension("fam", "k", [a / "k.cpp"], extra_include_paths=[str(a)])  # a's build is still there
    assert caplog.records == [] and len(fake_torch_build) == 2


def test_a_build_is_announced_on_stderr_where_logging_is_not_set_up(tmp_path, monkeypatch, capsys, fake_torch_build):
    monkeypatch.setenv(native_build.BUILD_DIR_ENV, str(tmp_path / "build"))
    monkeypatch.setattr(native_build.log, "hasHandlers", lambda: False)
    load_extension("fam", "k", [_checkout(tmp_path / "a") / "k.cpp"])
    assert capsys.readouterr().err.startswith("building the fused kernel k (")


def test_a_failed_build_is_one_build_error_naming_the_sources(tmp_path, monkeypatch, fake_torch_build):
    monkeypatch.setenv(native_build.BUILD_DIR_ENV, str(tmp_path / "build"))
    src = _checkout(tmp_path / "a") / "k.cpp"
    with pytest.raises(BuildError, match=r"building k from k.cpp failed: error: expected ';'"):
        load_extension("fam", "k", [src], fail=True)


def test_two_real_checkouts_sharing_a_build_dir_compile_once(tmp_path):
    """The real mechanism (cpp_extension.load, ninja, the loader), each load in a fresh process as two
    checkouts would run: a plain C++ library (no torch headers: seconds to compile) loaded as torch ops."""
    a, b = _checkout(tmp_path / "a"), _checkout(tmp_path / "b")
    build = tmp_path / "build"
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from repro import native_build
        csrc = Path(sys.argv[1])
        path = native_build.load_extension("test", "k", [csrc / "k.cpp"], what="the test library",
                                           extra_include_paths=[str(csrc)], is_python_module=False)
        assert Path(path).is_file() and Path(path).name == "k.so"
        print("loaded", native_build.content_key("k", [csrc / "k.cpp"], extra_include_paths=[str(csrc)],
                                                  is_python_module=False))
    """)

    def load(csrc: Path) -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", code, str(csrc)], capture_output=True, text=True, timeout=600,
                              cwd=ROOT, env={**os.environ, "REPRO_BUILD_DIR": str(build)})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout, done.stderr

    out, err = load(a)
    assert err.count("building the test library k (") == 1 and "built k in " in err
    objects = build / "k" / "k.o"
    first = objects.stat().st_mtime_ns
    for csrc in (b, a, b):  # alternating: no build, no compiler run, the same library
        again, err = load(csrc)
        assert "building" not in err and again == out, err
    assert objects.stat().st_mtime_ns == first
    (b / "k.h").write_text("#define K 2\n")
    changed, err = load(b)
    assert err.count("building the test library k (") == 1 and changed != out
    assert load(a)[0] == out  # back to a: its library is still cached


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

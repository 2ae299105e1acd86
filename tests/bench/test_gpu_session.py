"""bench/gpu_session.sh, the one way to run on a GPU: every part's --rehearse mode on the CPU with the
project's own torch (imports, data checks, the sm_90 builds from the build cache the kernel tests fill,
Hydra composition of every job, the CPU self-checks), its budget, its packing into $OUT and the unpacking
here, the data pieces, and the wheel list derived from pyproject.toml."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gs = _load("gpu_session")
parts = _load("gpu_parts")


@pytest.mark.parametrize("name", list(parts.PARTS))
def test_every_part_rehearses_on_the_cpu_without_a_failure(name, tmp_path, shared_data_root, shared_data_missing):
    part = parts.PARTS[name]
    if "cifar10" in part.data and not (shared_data_root / "cifar10" / "cifar-10-batches-py").is_dir():
        shared_data_missing(f"no cifar10/ in {shared_data_root}")
    env = {**os.environ, "PYTHON": sys.executable, "REPRO_DATA_ROOT": str(shared_data_root),
           "REPRO_GPU_SESSION_WORK": str(tmp_path)}
    started = time.perf_counter()
    done = subprocess.run(["bash", "bench/gpu_session.sh", name, "--rehearse"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / f"rehearse_{name}.json").read_text())
    assert [s["step"] for s in summary["steps"]] == [s.name for s in part.steps]
    for record, step in zip(summary["steps"], part.steps):
        # A step with GPU commands is only ever skipped-needs-GPU here, after its CPU part ran.
        assert record["status"] == ("skipped-needs-GPU" if step.gpu else "ran"), record
        assert [c["kind"] for c in record["commands"]] == ["cpu"] * len(step.cpu) + ["stand_in"] * len(step.stand_in)
        assert all(c["rc"] == 0 for c in record["commands"])
    assert summary["planned_s"] == part.planned() <= parts.MAX_PLANNED_S
    assert f"gpu_session {name}: {len(part.steps)} of {len(part.steps)} steps without failure" in done.stdout
    print(f"{name}: rehearsed in {time.perf_counter() - started:.0f} s")


def test_parts_fit_one_call_and_run_in_priority_order():
    assert set(parts.PARTS) >= {"kernels", "lecun1989", "cifar10", "ablations"}
    for part in parts.PARTS.values():
        names = [s.name for s in part.steps]
        assert len(set(names)) == len(names) and names[0] == "env"
        assert 0 < part.planned() <= parts.MAX_PLANNED_S <= 600 - 30  # time left to install wheels and pack
        # Nothing that needs the GPU before the steps that prepare it (build, data, composition).
        first_gpu = next(i for i, s in enumerate(part.steps) if s.gpu and s.name != "env")
        assert all(not s.gpu for s in part.steps[1:first_gpu])
        assert any(s.name in ("build", "compose") for s in part.steps[1:first_gpu])


def test_a_step_past_its_timeout_is_stopped_and_the_budget_is_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gs, "ROOT", tmp_path)
    monkeypatch.setattr(gs, "WORK", tmp_path / "work")
    part = parts.Part("t", "test", (
        parts.Step("env", 5, cpu=("echo hi",)),
        parts.Step("slow", 1, gpu=("trap 'echo got-TERM; exit 3' TERM; sleep 30 & wait",)),
        parts.Step("after", 2, gpu=("sleep 1.5",)),
        parts.Step("never", 5, gpu=("echo should-not-run",)),
    ))
    t0 = time.perf_counter()
    rc = gs.run_part(part, rehearse=False, budget=3.3, out=tmp_path / "out")
    took = time.perf_counter() - t0
    summary = json.loads((tmp_path / "results/bench/gpu_session/t/summary.json").read_text())
    status = {s["step"]: s["status"] for s in summary["steps"]}
    assert status == {"env": "ran", "slow": "timeout", "after": "ran", "never": "not-run"}, summary
    assert rc == 1 and took < 10
    assert "got-TERM" in (tmp_path / "results/bench/gpu_session/t/02_slow.log").read_text()  # SIGTERM first
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == ["t.tar.gz", "t_summary.md"] and len(out) <= gs.OUT_FILES


def test_a_session_clears_the_build_lock_a_stopped_build_left(tmp_path, monkeypatch):
    # torch's extension build waits for ever on a `lock` file that a build killed at its timeout leaves behind.
    folder = tmp_path / "build" / "lecun1989_fused" / "net1989_cuda"
    folder.mkdir(parents=True)
    (folder / "build.ninja").write_text("")
    (folder / "lock").touch()
    monkeypatch.delenv("REPRO_BUILD_DIR", raising=False)
    monkeypatch.setattr(gs, "ROOT", tmp_path)
    monkeypatch.setattr(gs, "WORK", tmp_path / "work")
    part = parts.Part("t", "test", (parts.Step("env", 5, cpu=("true",)),))
    assert gs.run_part(part, rehearse=True, budget=10, out=tmp_path / "out") == 0
    assert (folder / "lock").exists()  # a rehearsal may share the build folder with other builds: left alone
    assert gs.run_part(part, rehearse=False, budget=10, out=tmp_path / "out") == 0
    assert not (folder / "lock").exists() and (folder / "build.ninja").exists()


def test_pack_then_unpack_puts_records_and_bench_files_under_results(tmp_path, monkeypatch):
    device, here = tmp_path / "device", tmp_path / "here"
    run = device / "results/alexnet2012/runs/sweep_gpu/0_a_seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"status": "complete"}')
    (run / "checkpoint.pt").write_bytes(b"x" * (gs.BIG_FILE + 1))  # too big to come back
    (device / "results/bench").mkdir(parents=True)
    (device / "results/bench/k.csv").write_text("a\n1\n")
    monkeypatch.setattr(gs, "ROOT", device)
    monkeypatch.setattr(gs, "WORK", device / "build")
    part = parts.Part("p", "test", (parts.Step("env", 5, cpu=("true",), gpu=("true",),
                                               products=("results/alexnet2012/runs/sweep_gpu", "results/bench/k.csv")),))
    assert gs.run_part(part, rehearse=False, budget=10, out=tmp_path / "out") == 0
    (here / "results/bench").mkdir(parents=True)
    (here / "results/bench/k.csv").write_text("old\n")
    monkeypatch.setattr(gs, "ROOT", here)
    assert gs.unpack(tmp_path / "out") == 0
    assert (here / "results/alexnet2012/runs/sweep_gpu/0_a_seed0/metrics.json").read_text() == '{"status": "complete"}'
    assert not (here / "results/alexnet2012/runs/sweep_gpu/0_a_seed0/checkpoint.pt").exists()
    assert (here / "results/bench/k.csv").read_text() == "a\n1\n"  # a bench output is replaced
    assert (here / "results/bench/gpu_session/p/summary.md").exists()


def test_unpack_refuses_paths_outside_results(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gs, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("results/../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"!"))
    assert gs.unpack(tmp_path) == 2
    assert not (tmp_path / "evil.txt").exists() and "refusing" in capsys.readouterr().err


def test_data_pieces_fit_one_call_each_and_assemble_to_the_same_files(tmp_path, monkeypatch):
    src = tmp_path / "src" / "usps"
    src.mkdir(parents=True)
    payload = os.urandom(300_000)  # incompressible: three pieces of 128 KiB
    (src / "zip.train.gz").write_bytes(payload)
    monkeypatch.setenv("REPRO_DATA_ROOT", str(tmp_path / "src"))
    monkeypatch.setattr(gs, "DEVDATA", tmp_path / ".devdata")
    monkeypatch.setattr(gs, "travel_room", lambda: 128 * 1024)
    assert gs.stage_data(["usps"]) == 0
    pieces = sorted((tmp_path / ".devdata").glob("usps.tar.*"))
    assert [p.name for p in pieces] == [f"usps.tar.{k:02d}-of-03" for k in (1, 2, 3)]
    assert all(p.stat().st_size <= 128 * 1024 for p in pieces)
    second = pieces[1].read_bytes()
    pieces[1].unlink()  # one call's piece not carried yet: a clear stop, nothing half-made
    monkeypatch.setenv("REPRO_DATA_ROOT", str(tmp_path / "device_data"))
    with pytest.raises(SystemExit, match="2 of 3 pieces"):
        gs.assemble_data(["usps"])
    assert not (tmp_path / "device_data" / "usps").exists()
    pieces[1].write_bytes(second)
    assert gs.assemble_data(["usps"]) == tmp_path / "device_data"
    assert (tmp_path / "device_data" / "usps" / "zip.train.gz").read_bytes() == payload


def test_the_wheels_carry_exactly_the_dependencies_the_device_lacks():
    missing = {gs.dep_name(d) for d in gs.missing_on_device()}
    assert missing == {"hydra-core", "hydra-joblib-launcher"}
    assert {gs.dep_name(d) for d in gs.project_deps()} - missing <= gs.device_has()
    assert {"torch", "pandas", "matplotlib", "pytest", "numpy"} <= gs.device_has()


def test_api_check_names_torch_attributes_and_submodules_the_device_torch_lacks():
    import torch

    t = "torch"  # (spelled apart so that this file's own text holds no such name)
    sources = {"a.py": f"x = {t}.nn.functional.relu(y)\n{t}.utils.data.DataLoader\n{t}.ops.repro_alexnet.lrn_forward",
               "b.py": f"{t}.nn.functional.definitely_not_in_torch(y)\nimport {t}.not_a_submodule_either"}
    assert gs.missing_apis(sources, torch) == {f"{t}.nn.functional.definitely_not_in_torch": ["b.py"],
                                               f"{t}.not_a_submodule_either": ["b.py"]}
    # The project's own code is checked by every part's rehearsal (env step), here and against torch 2.11.0.


@pytest.mark.parametrize("argv", [["nope"], ["kernels", "--deep"], ["kernels", "--budget", "600"],
                                  ["kernels", "--budget"], ["kernels", "--gpu"], ["data", "imagenet"]])
def test_a_bad_command_line_is_one_error_line_and_exit_2_before_any_folder(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gs, "WORK", tmp_path / "work")
    monkeypatch.setattr(gs, "ROOT", tmp_path)
    assert gs.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and not (tmp_path / "work").exists() and not (tmp_path / "results").exists()


def test_a_session_stopped_from_outside_stops_its_step_and_still_packs(tmp_path):
    # The call's own limit or Ctrl-C: the running step gets SIGTERM too, and $OUT still gets the summary.
    script = tmp_path / "stop.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(ROOT / 'bench')!r})
import gpu_session as gs, gpu_parts as parts
from pathlib import Path
gs.ROOT = Path({str(tmp_path)!r}); gs.WORK = gs.ROOT / "work"
part = parts.Part("s", "test", (parts.Step("env", 60, cpu=("true",)),
    parts.Step("long", 60, gpu=("trap 'echo step-got-TERM; exit 3' TERM; sleep 50 & wait",)),
    parts.Step("later", 60, gpu=("echo never",))))
sys.exit(gs.run_part(part, rehearse=False, budget=100, out=gs.ROOT / "out"))
""")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(4)
    proc.terminate()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    summary = json.loads((tmp_path / "results/bench/gpu_session/s/summary.json").read_text())
    assert [r["status"] for r in summary["steps"]] == ["ran", "interrupted", "not-run"], out
    assert "step-got-TERM" in (tmp_path / "results/bench/gpu_session/s/02_long.log").read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s.tar.gz", "s_summary.md"]


def _path_without_nvidia_smi() -> str:
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "nvidia-smi").exists())


@pytest.mark.parametrize("part", list(parts.PARTS))
def test_a_session_without_a_gpu_says_so_before_anything(part, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gs, "WORK", tmp_path / "work")
    monkeypatch.setattr(gs, "ROOT", tmp_path)
    monkeypatch.setenv("PATH", _path_without_nvidia_smi())
    monkeypatch.delenv("REPRO_GPU_SESSION_NO_GPU_CHECK", raising=False)
    assert gs.main([part]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: no GPU here (nvidia-smi not found); use --rehearse") and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # neither results/ nor the scratch folder


def test_the_script_without_a_gpu_writes_nothing_into_results():
    before = sorted((ROOT / "results" / "bench").rglob("*"))
    out = subprocess.run(["bash", "bench/gpu_session.sh", "kernels"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PATH": _path_without_nvidia_smi()})
    assert (out.returncode, out.stdout) == (2, ""), out.stderr
    assert out.stderr.startswith("error: no GPU here")
    assert sorted((ROOT / "results" / "bench").rglob("*")) == before


def test_the_system_python_without_hydra_points_at_the_venv():
    if subprocess.run(["python3", "-c", "import hydra"], capture_output=True).returncode == 0:
        pytest.skip("this python3 has hydra")
    if not (ROOT / ".venv" / "bin" / "python").exists() or list((ROOT / ".whl").glob("*.whl")):
        pytest.skip("no .venv here, or wheels carried (the device's case)")
    for argv in (["kernels"], ["--help"], ["kernels", "--rehearse"]):
        out = subprocess.run(["bash", "bench/gpu_session.sh", *argv], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, env={**os.environ, "PYTHON": "python3"})
        assert out.returncode == 2 and out.stderr.startswith(
            "error: python3 cannot import hydra; run with the project's venv: PYTHON=.venv/bin/python"), out.stderr
        assert "wheel" not in out.stderr

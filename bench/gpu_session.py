"""One GPU session, one `run` call: the steps of a part (bench/gpu_parts.py) in priority order, each under
its own timeout, within a budget printed up front; logs, bench outputs and run records packed into at most
three files under $OUT. Called by bench/gpu_session.sh (which first installs the carried wheels).

    bash bench/gpu_session.sh kernels                 # on the device; also lecun1989, cifar10, ablations
    bash bench/gpu_session.sh kernels --rehearse      # here: everything up to the first GPU instruction
    bash bench/gpu_session.sh cifar10 --rehearse --deep  # ... and each sweep's jobs on the CPU, one short pass
    python bench/gpu_session.py unpack FILES_AT       # here: $OUT's files -> results/ (then `repro report`)
    python bench/gpu_session.py data cifar10          # here: the data as pieces to carry (.devdata/)
    python bench/gpu_session.py rehearsal-report      # here: results/bench/gpu_rehearsal.md from the rehearsals

Rehearsal: the `cpu` commands run, the `stand_in` commands check what the `gpu` ones will need, and each
step is reported as ran / skipped-needs-GPU with its time, into build/gpu_session/rehearse_<part>.json.
A step that fails does not stop the part (the next step may still be worth its minutes), except the
`env` and `build` steps, without which nothing after them can run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from gpu_parts import MAX_PLANNED_S, PARTS, Part, Step  # noqa: E402

# Rehearsal records and local scratch (git-ignored); tests point it elsewhere.
WORK = Path(os.environ.get("REPRO_GPU_SESSION_WORK") or ROOT / "build" / "gpu_session")
DEVDATA = ROOT / ".devdata"  # data pieces to carry (git-ignored)
REHEARSAL_MD = ROOT / "results" / "bench" / "gpu_rehearsal.md"
TRAVEL_LIMIT = 64 * 2**20  # what one `run` call carries: working tree + carried paths
OUT_FILES = 8
CRITICAL = {"env", "build"}  # a failure here ends the part: later steps need them
BIG_FILE = 4 * 2**20  # model.pt / checkpoint.pt above this size stay on the device
# A rehearsal measures; it does not hold this 2-core machine to the device's timeouts (16 cores, a GPU).
REHEARSAL_SLACK, REHEARSAL_MIN_S = 10, 300


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fmt(seconds: float) -> str:
    return f"{seconds:.1f}"


# ---------------------------------------------------------------- running a part


def run_command(cmd: str, timeout: float, log) -> tuple[int, float]:
    """bash -c cmd in its own process group; at the timeout SIGTERM (training runs checkpoint), then SIGKILL."""
    started = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    deadline = started + timeout
    lines: list[str] = []

    def pump():
        for line in proc.stdout:
            log.write(line)
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    rc = None
    try:
        while rc is None:
            try:
                rc = proc.wait(timeout=max(0.1, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                log.write(f"\n[gpu_session] timeout after {timeout:.0f} s: SIGTERM\n")
                _stop(proc)
                rc = 124
    except KeyboardInterrupt:  # the session itself was stopped: so is the step (its own process group)
        _stop(proc)
        raise
    reader.join(timeout=5)
    tail = [ln.rstrip() for ln in lines if ln.strip() and "No CUDA runtime is found" not in ln][-3:]
    for ln in tail:
        print(f"    | {ln[:200]}")
    return rc, time.perf_counter() - started


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the step's process group (a training run checkpoints), SIGKILL 30 s later."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def run_part(part: Part, rehearse: bool, budget: float, out: Path, deep: bool = False) -> int:
    logs = (WORK / f"rehearse_{part.name}" if rehearse else ROOT / "results" / "bench" / "gpu_session" / part.name)
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    bench = logs / "bench" if rehearse else ROOT / "results" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    mode = (f"rehearsal{' (deep)' if deep else ''}: no GPU instruction is run" if rehearse else "on the GPU")
    print(f"gpu_session {part.name}: {part.what}\n  {mode}; python {platform.python_version()} {sys.executable}")
    print(f"  budget {budget:.0f} s ({budget / 60:.1f} min), planned {part.planned()} s:")
    for i, s in enumerate(part.steps, 1):
        kinds = "+".join(k for k, v in (("cpu", s.cpu), ("gpu", s.gpu)) if v)
        print(f"    {i:2d}. {s.name:<20} {s.timeout:4d} s  {kinds:<8} {s.note}")
    if not rehearse:
        clear_stale_build_locks()
    started = time.perf_counter()
    records: list[dict] = []
    # Stopped from outside (SIGTERM, Ctrl-C): the steps left are not run; what was made is still packed.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_steps(part, rehearse, deep, budget, records, logs, bench)
    except KeyboardInterrupt:
        print("gpu_session: interrupted; packing what was made")
    finally:
        signal.signal(signal.SIGTERM, previous)
    for rec in records:
        rec.setdefault("status", "interrupted")
    for step in part.steps[len(records):]:
        records.append({"step": step.name, "planned_s": step.timeout, "note": step.note, "commands": [],
                        "status": "not-run", "why": "interrupted"})
    total = time.perf_counter() - started
    summary = {"part": part.name, "what": part.what, "rehearse": rehearse, "deep": deep, "budget_s": budget,
               "planned_s": part.planned(), "total_s": round(total, 1), "finished": now(),
               "environment": environment(), "steps": records, "data": list(part.data)}
    failures = [r for r in records if r["status"] in ("failed", "timeout", "interrupted")]
    not_run = sum(r["status"] == "not-run" for r in records)
    print(f"gpu_session {part.name}: {len(records) - len(failures) - not_run} of {len(records)} steps without failure"
          f"{f', {not_run} not run' if not_run else ''} in {total:.0f} s (budget {budget:.0f} s)")
    for r in records:
        print(f"  {r['step']:<20} {r['status']:<18} {r.get('seconds', 0):6.1f} s / {r['planned_s']} s")
    if rehearse:
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / f"rehearse_{part.name}.json").write_text(json.dumps(summary, indent=1))
    (logs / "summary.json").write_text(json.dumps(summary, indent=1))
    (logs / "summary.md").write_text(summary_md(summary))
    if not rehearse:
        pack(part, logs, out)
    return 1 if failures or not_run else 0


def _interrupt(*_):
    raise KeyboardInterrupt


def run_steps(part: Part, rehearse: bool, deep: bool, budget: float, records: list[dict], logs: Path,
              bench: Path) -> None:
    """Each step in order, its record appended to ``records`` as it starts."""
    py = shlex.quote(sys.executable)
    started, stop = time.perf_counter(), None
    for i, step in enumerate(part.steps, 1):
        rec = {"step": step.name, "planned_s": step.timeout, "note": step.note, "commands": []}
        records.append(rec)
        if stop:
            rec.update(status="not-run", why=stop)
            continue
        left = budget - (time.perf_counter() - started)
        if rehearse:
            limit = max(step.timeout * REHEARSAL_SLACK, REHEARSAL_MIN_S)
        elif left < 1:
            rec.update(status="not-run", why="budget spent")
            continue
        else:
            limit = min(step.timeout, left)
        cmds = [("cpu", c) for c in step.cpu] + ([("stand_in", c) for c in step.stand_in] if rehearse
                                                 else [("gpu", c) for c in step.gpu])
        cmds += [("deep", c) for c in step.deep] if rehearse and deep else []
        print(f"[{i}/{len(part.steps)}] {step.name} (up to {limit:.0f} s)")
        t0, status = time.perf_counter(), "ran"
        with open(logs / f"{i:02d}_{step.name}.log", "w") as log:
            for kind, c in cmds:
                c = c.format(py=py, logs=shlex.quote(str(logs)), bench=shlex.quote(str(bench)))
                log.write(f"$ {c}\n")
                log.flush()
                rc, took = run_command(c, max(1.0, limit - (time.perf_counter() - t0)), log)
                rec["commands"].append({"kind": kind, "command": c, "rc": rc, "seconds": round(took, 1)})
                if rc != 0:
                    status = "timeout" if rc == 124 else "failed"
                    break
        rec["seconds"] = round(time.perf_counter() - t0, 1)
        if status == "ran" and rehearse and step.gpu:
            status = "skipped-needs-GPU"
        rec["status"] = status
        print(f"  -> {status} in {fmt(rec['seconds'])} s")
        if status in ("failed", "timeout") and step.name in CRITICAL:
            stop = f"step {step.name} {status}"


def clear_stale_build_locks() -> None:
    """On the device the session is the only builder: a build stopped at its timeout leaves torch's `lock` file
    behind, and a second call would wait on it for ever instead of going on with the objects already made."""
    root = Path(os.environ.get("REPRO_BUILD_DIR") or ROOT / "build")
    for lock in root.glob("**/lock"):
        if lock.is_file() and lock.stat().st_size == 0 and (lock.parent / "build.ninja").exists():
            lock.unlink()
            print(f"removed a stale build lock: {lock}")


def summary_md(s: dict) -> str:
    env = s["environment"]
    lines = [f"# gpu_session {s['part']}{' (rehearsal)' if s['rehearse'] else ''}", "",
             f"{s['what']}. {env['hardware']}; python {env['python']}, torch {env['torch']} (CUDA {env['cuda']}), "
             f"commit `{env['commit']}`, {s['finished']}. Budget {s['budget_s']:.0f} s, planned {s['planned_s']} s, "
             f"took {s['total_s']:.0f} s.", "",
             "| step | status | seconds | planned s | note |", "|---|---|---|---|---|"]
    for r in s["steps"]:
        lines.append(f"| {r['step']} | {r['status']} | {r.get('seconds', '')} | {r['planned_s']} | {r['note']} |")
    return "\n".join(lines) + "\n"


def environment() -> dict:
    info = {"python": platform.python_version(), "torch": None, "cuda": None, "gpu": None, "commit": None}
    try:
        import torch

        info.update(torch=torch.__version__, cuda=torch.version.cuda)
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    info["hardware"] = f"GPU {info['gpu']}" if info["gpu"] else f"no GPU ({os.cpu_count()} CPU cores)"
    return info


def pack(part: Part, logs: Path, out: Path) -> None:
    """$OUT/<part>.tar.gz (logs, bench outputs, run records: repo-relative paths) and <part>_summary.md."""
    out.mkdir(parents=True, exist_ok=True)
    tar_path = out / f"{part.name}.tar.gz"
    left_out = []

    def keep(info: tarfile.TarInfo):
        if info.isfile() and info.size > BIG_FILE and Path(info.name).name in ("model.pt", "checkpoint.pt"):
            left_out.append(f"{info.name} ({info.size / 2**20:.0f} MiB)")
            return None
        return info

    with tarfile.open(tar_path, "w:gz") as tar:
        for rel in [str(logs.relative_to(ROOT)), *(p for s in part.steps for p in s.products)]:
            if (ROOT / rel).exists():
                tar.add(ROOT / rel, arcname=rel, filter=keep)
    if left_out:
        print(f"left on the device (over {BIG_FILE >> 20} MiB each): {', '.join(left_out)}")
    shutil.copy2(logs / "summary.md", out / f"{part.name}_summary.md")
    size = tar_path.stat().st_size
    print(f"packed {tar_path} ({size / 2**20:.1f} MiB) and {part.name}_summary.md; here: "
          f"python bench/gpu_session.py unpack <files_at>")
    if size > 16 * 2**20:
        print(f"warning: {tar_path.name} is over the 16 MiB a file may have to come back")


# ---------------------------------------------------------------- here: unpack, data, report


def unpack(folder: Path) -> int:
    """Extract every <part>.tar.gz of a device call into the repo (results/...); existing files are kept
    unless they are bench outputs or this part's logs, which a new session replaces."""
    tars = sorted(Path(folder).glob("*.tar.gz"))
    if not tars:
        print(f"error: no *.tar.gz in {folder}", file=sys.stderr)
        return 2
    sweeps = set()
    for tar_path in tars:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            for m in members:
                target = (ROOT / m.name).resolve()
                if not m.name.startswith("results/") or ROOT / "results" not in target.parents or not (m.isfile() or m.isdir()):
                    print(f"error: {tar_path.name}: refusing {m.name} (only files under results/)", file=sys.stderr)
                    return 2
            wrote = kept = 0
            for m in members:
                target = ROOT / m.name
                replaceable = m.name.startswith("results/bench/")
                if m.isfile() and target.exists() and not replaceable:
                    kept += 1
                    continue
                tar.extract(m, ROOT, filter="data") if sys.version_info >= (3, 12) else tar.extract(m, ROOT)
                wrote += m.isfile()
                parts = Path(m.name).parts
                if len(parts) > 4 and parts[2] == "runs":
                    sweeps.add("/".join(parts[:4]))
        print(f"{tar_path.name}: wrote {wrote} files, kept {kept} that were already here")
    for s in sorted(sweeps):
        print(f"  run records: {s}  ->  repro report {s}")
    print("then `repro report` (no folders) regenerates results/ and REPORT.md from every record")
    return 0


def travel_room() -> int:
    """Bytes left for carried data in one call: 64 MiB less the working tree and the wheels, 4 MiB spare."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    tree = sum((ROOT / f.decode()).stat().st_size for f in files if f and (ROOT / f.decode()).is_file())
    wheels = sum(p.stat().st_size for p in (ROOT / ".whl").glob("*.whl"))
    return TRAVEL_LIMIT - tree - wheels - 4 * 2**20


DATA_DIRS = {"usps": "usps", "mnist": "mnist", "cifar10": "cifar10"}


def _writable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode |= 0o600  # the shared copy is read-only; the device's data/ need not be
    return info


def stage_data(names: list[str]) -> int:
    """Here: each data set as a tar.xz (CIFAR-10's batches shrink to 75%: one call fewer) cut into pieces that fit
    beside the working tree in one call."""
    from repro.data.root import resolve_data_root

    root = resolve_data_root()
    room = travel_room()
    DEVDATA.mkdir(exist_ok=True)
    for name in names:
        src = root / DATA_DIRS[name]
        if not src.is_dir():
            print(f"error: {src} not found (set REPRO_DATA_ROOT)", file=sys.stderr)
            return 2
        for old in DEVDATA.glob(f"{name}.tar.*"):
            old.unlink()
        whole = DEVDATA / f"{name}.tar"
        with tarfile.open(whole, "w:xz") as tar:
            tar.add(src, arcname=DATA_DIRS[name], filter=_writable)
        size, n = whole.stat().st_size, -(-whole.stat().st_size // room)
        with open(whole, "rb") as f:
            for k in range(n):
                (DEVDATA / f"{name}.tar.{k + 1:02d}-of-{n:02d}").write_bytes(f.read(room))
        whole.unlink()
        pieces = sorted(f"{DEVDATA.name}/{p.name}" for p in DEVDATA.glob(f"{name}.tar.*"))
        print(f"{name}: {size / 2**20:.1f} MiB in {n} piece(s) of at most {room / 2**20:.1f} MiB "
              f"({n} call(s) carry it)")
        for p in pieces:
            print(f"  carry [\".whl\", \"{p}\"]")
    print("The device keeps what earlier calls carried (git-ignored paths) while it stays warm; a part's data step "
          "assembles the pieces into data/ once all are there.")
    return 0


def assemble_data(names: list[str]) -> Path:
    """On the device: the carried pieces of each data set, once all are there, into data/ (the data root)."""
    from repro.data.root import resolve_data_root

    root = resolve_data_root()
    for name in names:
        pieces = sorted(DEVDATA.glob(f"{name}.tar.*"))
        if not pieces or (root / DATA_DIRS[name]).exists():
            continue
        want = int(re.search(r"-of-(\d+)$", pieces[0].name).group(1))
        if len(pieces) < want:
            raise SystemExit(f"error: {name}: {len(pieces)} of {want} pieces carried so far "
                             f"({', '.join(p.name for p in pieces)}); carry the others first")
        root.mkdir(parents=True, exist_ok=True)
        whole = DEVDATA / f"{name}.tar"
        with open(whole, "wb") as f:
            for p in pieces:
                f.write(p.read_bytes())
        with tarfile.open(whole, "r:xz") as tar:
            tar.extractall(root, filter="data") if sys.version_info >= (3, 12) else tar.extractall(root)
        whole.unlink()
        print(f"{name}: assembled {len(pieces)} piece(s) into {root / DATA_DIRS[name]}")
    return root


def data_check(names: list[str]) -> int:
    """Each data set read and verified (checksums) as the runs will read it; the travel plan here."""
    root = assemble_data(names)
    for name in names:
        t0 = time.perf_counter()
        if name == "cifar10":
            from repro.data.cifar10 import load_cifar10

            arrays = load_cifar10(root, download=False)
            shape = f"{len(arrays.x_train)} train / {len(arrays.x_test)} test images"
        else:
            from repro.data.registry import load_digits

            splits = load_digits("mnist16" if name == "mnist" else name, root, download=False)
            shape = f"{len(splits.y_train)} train / {len(splits.y_test)} test digits"
        size = sum(p.stat().st_size for p in (root / DATA_DIRS[name]).rglob("*") if p.is_file())
        room = travel_room()
        travel = ("fits beside the working tree in one call" if size < room else
                  f"more than the {room / 2**20:.0f} MiB one call has room for: carried in pieces, one a call")
        print(f"{name}: {shape}, verified in {time.perf_counter() - t0:.1f} s from {root / DATA_DIRS[name]}; "
              f"{size / 2**20:.1f} MiB, {travel} (`python bench/gpu_session.py data {name}`)")
    return 0


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def device_has() -> set[str]:
    """The device's Python packages (bench/device_packages.txt), PEP 503 names."""
    lines = (ROOT / "bench" / "device_packages.txt").read_text().splitlines()
    return {_norm(ln.split()[0]) for ln in lines if ln.strip() and not ln.startswith("#")}


def project_deps() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def dep_name(requirement: str) -> str:
    return _norm(re.match(r"[A-Za-z0-9_.-]+", requirement).group())


def missing_on_device() -> list[str]:
    """pyproject.toml's dependencies that the device lacks, as written there (scripts/device_wheels.sh)."""
    have = device_has()
    return [d for d in project_deps() if dep_name(d) not in have]


SOURCE_DIRS = ("repro", "lecun1989", "alexnet2012", "modern_tricks", "hydra_plugins", "bench", "tests")


def missing_apis(sources: dict[str, str], module) -> dict[str, list[str]]:
    """Dotted names `torch.<attr>.<attr>...` in ``sources`` (path -> text) that ``module`` (torch) lacks: attributes and
    submodules (found without being imported). torch.ops.* (registered by our libraries at run time) is skipped."""
    import importlib.util

    names: dict[str, list[str]] = {}
    for path, text in sources.items():
        for m in re.finditer(r"\btorch(?:\.[A-Za-z_][A-Za-z0-9_]*)+", text):
            if not m.group().startswith("torch.ops."):
                names.setdefault(m.group(), []).append(path)
    missing = {}
    for name, paths in sorted(names.items()):
        parts, obj = name.split("."), module
        for i, attr in enumerate(parts[1:], 1):
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
                continue
            # Not imported yet: look the submodules up without running them (importing torch._inductor and
            # the like takes minutes on a busy machine); the first name that is no submodule must appear in
            # the last one's source.
            spec, j = None, i
            while j < len(parts):
                try:
                    found = importlib.util.find_spec(".".join([module.__name__, *parts[1:j + 1]]))
                except (ImportError, ValueError):
                    found = None
                if found is None:
                    break
                spec, j = found, j + 1
            source = Path(spec.origin).read_text(errors="replace") if spec and spec.origin and \
                spec.origin.endswith(".py") else ""
            if spec is None or (j < len(parts) and not re.search(rf"\b{re.escape(parts[j])}\b", source)):
                missing[name] = sorted(set(paths))
            break
    return missing


def api_check() -> int:
    """Every torch.* name our code writes exists in this torch (the device's 2.11.0 in the rehearsal)."""
    import torch

    sources = {str(p.relative_to(ROOT)): p.read_text(errors="replace")
               for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")}
    missing = missing_apis(sources, torch)
    for name, paths in missing.items():
        print(f"error: {name} is not in torch {torch.__version__} (used in {', '.join(paths[:3])}): "
              "avoid it or guard it (hasattr) for the device's torch")
    print(f"torch API check: {len(missing)} of the torch.* names in {len(sources)} files missing from torch "
          f"{torch.__version__}")
    return 1 if missing else 0


def print_env() -> int:
    """What this python has of what a session needs (the device's python3 in a session)."""
    import importlib.util

    env = environment()
    print(f"python {env['python']} ({sys.executable}), torch {env['torch']}, CUDA {env['cuda']}, GPU {env['gpu']}")
    from repro.native_build import cuda_home

    print(f"CUDA toolkit: {cuda_home() or 'none found'}; ninja: {shutil.which('ninja') or 'none'}; "
          f"cores: {os.cpu_count()}")
    missing = [m for m in ("hydra", "omegaconf", "antlr4", "pandas", "matplotlib", "pytest", "numpy", "tqdm")
               if importlib.util.find_spec(m) is None]
    if missing:
        print(f"error: missing Python packages: {', '.join(missing)} (carry .whl: scripts/device_wheels.sh)")
        return 1
    import hydra

    print(f"hydra {hydra.__version__} from {Path(hydra.__file__).parent.parent}")
    return 0


def rehearsal_report(command: str) -> int:
    """results/bench/gpu_rehearsal.md from build/gpu_session/rehearse_<part>.json."""
    parts = []
    for name in PARTS:
        path = WORK / f"rehearse_{name}.json"
        if not path.exists():
            print(f"error: {path} missing: run bash bench/gpu_session.sh {name} --rehearse", file=sys.stderr)
            return 2
        parts.append(json.loads(path.read_text()))
    envs = {(p["environment"]["python"], p["environment"]["torch"]) for p in parts}
    env = parts[0]["environment"]
    wheels = sorted(p.name for p in (ROOT / ".whl").glob("*.whl"))
    wheel_mib = sum(p.stat().st_size for p in (ROOT / ".whl").glob("*.whl")) / 2**20
    fails = sum(s["status"] in ("failed", "timeout", "interrupted") for p in parts for s in p["steps"])
    lines = [
        "# GPU session rehearsal", "",
        f"Made by `{command}` on this machine ({env['hardware']}), commit "
        f"{', '.join(f'`{c}`' for c in dict.fromkeys(p['environment']['commit'] for p in parts))}, "
        f"{max(p['finished'] for p in parts)}: every part of `bench/gpu_session.sh` in `--rehearse` mode, with python "
        + ", ".join(f"{py} and torch {t}" for py, t in sorted(envs))
        + " in a scratch venv holding nothing of ours but the carried wheels, as on the device (python 3.12, "
          "torch 2.11.0+cu130). A step ran (its CPU commands) or was skipped-needs-GPU after its CPU part and "
          "the CPU stand-ins of its GPU commands ran (tests collected, options parsed, tools looked up; with "
          "`--deep`, each training sweep's jobs through the real training path on the CPU, one short pass). "
          "The seconds are this machine's (2 cores shared with a training run: builds take minutes here), the "
          "planned seconds the device's timeouts (16 cores). Generated by "
          "`python bench/gpu_session.py rehearsal-report`.", "",
        f"**{fails} failure(s) before the first GPU instruction.** Carried wheels (`scripts/device_wheels.sh`): "
        f"{', '.join(wheels) or 'none'}: {wheel_mib:.2f} MiB of the 64 MiB a call carries.", "",
        "| part | mode | steps | ran | skipped-needs-GPU | failed / not run | rehearsal s | planned device min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in parts:
        st = [s["status"] for s in p["steps"]]
        lines.append(f"| {p['part']} | {'--deep' if p.get('deep') else 'quick'} | {len(st)} | {st.count('ran')} | "
                     f"{st.count('skipped-needs-GPU')} | {sum(x in ('failed', 'timeout', 'interrupted') for x in st)} / "
                     f"{st.count('not-run')} | {p['total_s']:.0f} | {p['planned_s'] / 60:.1f} |")
    room = travel_room()
    for p in parts:
        data = []
        for name in p["data"]:
            folder = Path(os.environ.get("REPRO_DATA_ROOT") or ROOT / "data") / DATA_DIRS[name]
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0
            data.append(f"{name} {size / 2**20:.0f} MiB (" + ("one call" if size < room else
                        f"pieces of at most {room / 2**20:.0f} MiB, one a call: at most {-(-size // room)} calls") + ")")
        lines += ["", f"## {p['part']}: {p['what']}", "",
                  f"Planned on the device: {p['planned_s']} s ({p['planned_s'] / 60:.1f} min, limit "
                  f"{MAX_PLANNED_S} s). Data to carry: {', '.join(data) or 'none'}.", "",
                  "| # | step | status | rehearsal s | commands run here | planned s | left to the GPU |",
                  "|---|---|---|---|---|---|---|"]
        for i, s in enumerate(p["steps"], 1):
            step = next(x for x in PARTS[p["part"]].steps if x.name == s["step"])
            left = "; ".join(f"`{c.split(' > ')[0][:110]}`" for c in step.gpu) or "—"
            kinds = [c["kind"] for c in s["commands"]]
            ran = ", ".join(f"{k.replace('_', '-')} {kinds.count(k)}" for k in dict.fromkeys(kinds)) or "—"
            lines.append(f"| {i} | {s['step']} | {s['status']} | {s.get('seconds', '')} | {ran} | {s['planned_s']} | "
                         f"{left} |")
        notes = [f"- {s['step']}: " + "; ".join(f"`{c['command'][:100]}` exit {c['rc']}" for c in s["commands"]
                                                 if c["rc"] != 0) for s in p["steps"]
                 if s["status"] in ("failed", "timeout", "interrupted")]
        lines += ([""] + notes) if notes else []
    REHEARSAL_MD.write_text("\n".join(lines) + "\n")
    print(f"wrote {REHEARSAL_MD.relative_to(ROOT)} ({fails} failure(s))")
    return 1 if fails else 0


# ---------------------------------------------------------------- command line


USAGE = f"""usage: gpu_session.py PART [--rehearse [--deep]] [--budget S] [--out DIR]   PART: {', '.join(PARTS)}
       gpu_session.py unpack FOLDER | data NAME... | data-check NAME... | env | rehearsal-report [COMMAND]
       gpu_session.py api-check                      (every torch.* name our code uses exists in this torch)
       gpu_session.py missing-deps | device-has      (pyproject.toml's dependencies the device lacks; its packages)"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + __doc__)
        return 0 if argv else 2
    what, rest = argv[0], argv[1:]
    if what == "unpack" and len(rest) == 1:
        return unpack(Path(rest[0]))
    if what in ("data", "data-check"):
        if not rest or not all(n in DATA_DIRS for n in rest):
            print(f"error: {what} takes data set names from {', '.join(DATA_DIRS)}, got {rest}", file=sys.stderr)
            return 2
        return (stage_data if what == "data" else data_check)(rest)
    if what == "env" and not rest:
        return print_env()
    if what == "api-check" and not rest:
        return api_check()
    if what in ("missing-deps", "device-has") and not rest:
        print("\n".join(missing_on_device() if what == "missing-deps" else sorted(device_has())))
        return 0
    if what == "rehearsal-report":
        return rehearsal_report(" ".join(rest) or "bash scripts/gpu_rehearsal.sh")
    if what not in PARTS:
        print(f"error: unknown part or command {what!r}\n{USAGE}", file=sys.stderr)
        return 2
    rehearse, deep, budget, out = False, False, float(MAX_PLANNED_S), None
    args = iter(rest)
    for a in args:
        try:
            if a == "--rehearse":
                rehearse = True
            elif a == "--deep":
                deep = True
            elif a == "--budget":
                budget = float(next(args))
            elif a == "--out":
                out = Path(next(args))
            else:
                raise ValueError(a)
        except (StopIteration, ValueError):
            print(f"error: bad argument {a!r}\n{USAGE}", file=sys.stderr)
            return 2
    if deep and not rehearse:
        print("error: --deep goes with --rehearse", file=sys.stderr)
        return 2
    if not 0 < budget <= MAX_PLANNED_S:
        print(f"error: --budget must be in (0, {MAX_PLANNED_S}] seconds", file=sys.stderr)
        return 2
    if not rehearse:
        missing = no_gpu()
        if missing is not None:  # said before anything is run or written (results/ included)
            print(f"error: no GPU here ({missing}); use --rehearse to run everything up to the first GPU "
                  f"instruction: bash bench/gpu_session.sh {what} --rehearse", file=sys.stderr)
            return 2
    out = out or Path(os.environ.get("OUT") or WORK / "out")
    return run_part(PARTS[what], rehearse, budget, out, deep)


def no_gpu() -> str | None:
    """Why this machine has no NVIDIA GPU to run a session on, or None: `nvidia-smi -L`
    must list one (REPRO_GPU_SESSION_NO_GPU_CHECK=1 skips the check, for tests)."""
    if os.environ.get("REPRO_GPU_SESSION_NO_GPU_CHECK") == "1":
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "nvidia-smi not found"
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi -L failed: {exc}"
    if listed.returncode != 0 or "GPU" not in listed.stdout:
        return f"nvidia-smi -L lists no GPU (exit {listed.returncode})"
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

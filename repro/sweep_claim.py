"""A command owns the folder it was given: a sweep its hydra.sweep.dir as a whole,
a single run what Hydra made for it. `FolderClaim` is a Hydra callback (wired in
both apps' configs as `hydra.callbacks.folder_claim`), so every sweep, whatever
its launcher, goes through it before any job starts:

- the sweep takes `.sweep.lock` in its folder for the whole command: a second
  sweep into the same folder, concurrent or later, is refused whole;
- the sweep's arguments are recorded in `sweep.yaml` (the task overrides and the
  sweeper's params, as `key: value` text; keys a resume may change, checkpoint.RESUME_IGNORED,
  left out). A folder that already holds a sweep is taken again only with
  resume=true and the same arguments; otherwise the whole sweep is refused, naming
  the differing keys. A folder made before sweep.yaml existed (only multirun.yaml
  and job folders) is read from multirun.yaml's hydra.overrides.task and
  hydra.sweeper.params, and resumes the same way;
- a job folder of such a folder locked by a running job (a sweep of older code
  has no sweep lock) makes the folder in use, too;
- multirun.yaml, which Hydra's basic sweeper writes at every start, is written
  only when the folder has none: a resume keeps the first one byte for byte;
- a sweep whose jobs were all refused removes the folder if it made it (every
  refused job has removed its own), as a refused single run does (`remove_created`).

A refusal is one `error:` line and exit 2, the folder as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from repro.train.atomic import write_text_atomic
from repro.train.checkpoint import resume_ignored

SWEEP_LOCK = ".sweep.lock"
SWEEP_RECORD = "sweep.yaml"
LEGACY_RECORD = "multirun.yaml"  # Hydra's; the record of a sweep folder made before sweep.yaml
EXIT_USER_ERROR = 2

# This process's claim: the sweep folder's lock and what the command created.
_state: dict[str, Any] = {}


def first_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def remove_created(run_dir: Path) -> None:
    """After a refused single run or sweep job: remove ``run_dir`` if it is empty (Hydra
    made it before the app ran), then, for a single run, the empty folders above it
    that the command made (hydra.run.dir=new/a/b)."""
    run_dir = Path(os.path.abspath(run_dir))
    existed = _state.get("run_existed")
    stop = existed if existed is not None and run_dir.is_relative_to(existed) else run_dir.parent
    folder = run_dir
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()  # only ever succeeds on an empty folder
        except OSError:
            return
        folder = folder.parent


def overrides_record(overrides: list[str]) -> dict[str, str]:
    """``key: value`` (Hydra's text for the value) of each override a resume may not change."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = {}
    for override in OverridesParser.create().parse_overrides([str(o) for o in overrides]):
        if not resume_ignored(override.key_or_group):
            out[override.get_key_element()] = _value_text(override)
    return out


def _value_text(override: Any) -> str:
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    try:
        return ",".join(override.sweep_string_iterator())  # seed=0,1,2 and seed=range(3) alike
    except Exception:  # noqa: BLE001  (an interval or glob sweep: its text as given)
        return override.input_line.split("=", 1)[-1]


def sweep_record(cfg: Any) -> dict[str, dict[str, str]]:
    """What the sweep is started with: its task overrides and its sweeper's params."""
    params = _plain(OmegaConf.select(cfg, "hydra.sweeper.params", default=None)) or {}
    task = _plain(OmegaConf.select(cfg, "hydra.overrides.task", default=None)) or []
    return {"overrides": overrides_record(list(task)),
            "params": {str(k): str(v) for k, v in dict(params).items() if not resume_ignored(str(k))}}


def _plain(node: Any) -> Any:
    """A config node as plain data, interpolations left as written (a record's text, not today's values)."""
    return OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node


def recorded(sweep: Path) -> tuple[str, dict[str, dict[str, str]]] | None:
    """(the file it was read from, the record) of the sweep in ``sweep``, or None."""
    if (sweep / SWEEP_RECORD).is_file():
        data = yaml.safe_load((sweep / SWEEP_RECORD).read_text(encoding="utf-8")) or {}
        return SWEEP_RECORD, {"overrides": dict(data.get("overrides") or {}), "params": dict(data.get("params") or {})}
    if (sweep / LEGACY_RECORD).is_file():
        legacy = OmegaConf.load(sweep / LEGACY_RECORD)
        return LEGACY_RECORD, sweep_record(legacy)
    return None


def differences(old: Mapping[str, Mapping[str, str]], new: Mapping[str, Mapping[str, str]]) -> list[str]:
    out = []
    for part, what in (("overrides", ""), ("params", "hydra.sweeper.params.")):
        a, b = old.get(part) or {}, new.get(part) or {}
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                out.append(f"{what}{key} (recorded {a.get(key, '<absent>')}, now {b.get(key, '<absent>')})")
    return out


def _locked_jobs(sweep: Path) -> list[Path]:
    """The job folders of ``sweep`` whose run lock another process holds."""
    busy = []
    for lock in sorted(sweep.glob("*/.lock")):
        try:
            with open(lock) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
        except BlockingIOError:
            busy.append(lock.parent)
        except OSError:
            continue
    return busy


class _Refused(Exception):
    pass


def claim_sweep(cfg: Any) -> None:
    """Take the sweep folder (see the module docstring), or print why not and exit 2."""
    sweep = Path(os.path.abspath(str(cfg.hydra.sweep.dir)))
    existed_top = first_existing(sweep)
    made_folder = not sweep.exists()
    made_lock = False
    times = os.stat(sweep) if sweep.is_dir() else None  # put back if the lock file made for a refusal goes
    handle = None
    try:
        if os.path.lexists(sweep) and not sweep.is_dir():
            raise _Refused(f"hydra.sweep.dir={sweep} is a file, not a folder; choose another hydra.sweep.dir")
        sweep.mkdir(parents=True, exist_ok=True)
        made_lock = not (sweep / SWEEP_LOCK).exists()
        handle = open(sweep / SWEEP_LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _Refused(f"{sweep} is in use by another sweep (locked: {sweep / SWEEP_LOCK}); "
                           "wait for it to end, or choose another hydra.sweep.dir") from None
        busy = _locked_jobs(sweep)
        if busy:
            raise _Refused(f"{sweep} is in use: its job {busy[0].name} is running (locked: {busy[0] / '.lock'}); "
                           "wait for its sweep to end, or choose another hydra.sweep.dir")
        wanted = sweep_record(cfg)
        found = recorded(sweep)
        resume = bool(OmegaConf.select(cfg, "resume", default=False))
        if found is None:
            others = sorted(p.name for p in sweep.iterdir() if p.name != SWEEP_LOCK)
            if others:
                raise _Refused(f"{sweep} holds files that are not a sweep of ours ({', '.join(others[:5])}); "
                               "it is left untouched: choose another hydra.sweep.dir (a new or empty folder)")
        else:
            source, old = found
            if not resume:
                raise _Refused(f"{sweep} already holds a sweep ({source}); a sweep folder is never shared by two "
                               "sweeps: pass resume=true with the same arguments to continue it, or choose another "
                               "hydra.sweep.dir")
            diffs = differences(old, wanted)
            if diffs:
                raise _Refused(f"cannot resume the sweep in {sweep}: its arguments differ from the recorded ones "
                               f"({source}) in {', '.join(diffs)}; resume with the recorded arguments or choose "
                               "another hydra.sweep.dir")
        if not (sweep / SWEEP_RECORD).is_file():
            write_text_atomic(sweep / SWEEP_RECORD, "# The arguments this sweep was started with (repro/sweep_claim.py)\n"
                              + yaml.safe_dump(wanted, sort_keys=True))
    except (_Refused, OSError, yaml.YAMLError, ValueError) as exc:
        if handle is not None:
            handle.close()
        if made_folder:
            shutil.rmtree(first_existing_below(existed_top, sweep), ignore_errors=True)
        elif made_lock:
            with _suppress():
                (sweep / SWEEP_LOCK).unlink()
                if times is not None:
                    os.utime(sweep, ns=(times.st_atime_ns, times.st_mtime_ns))
        message = str(exc) if isinstance(exc, _Refused) else f"cannot claim the sweep folder {sweep}: {exc}"
        print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)
    _state.update(sweep=sweep, handle=handle, made_top=first_existing_below(existed_top, sweep) if made_folder else None)
    _keep_multirun_yaml()


def first_existing_below(existing: Path, path: Path) -> Path:
    """The first folder on the way from ``existing`` down to ``path`` (what mkdir -p made first)."""
    rel = Path(path).relative_to(existing)
    return existing / rel.parts[0] if rel.parts else Path(path)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def end_sweep() -> None:
    """At the end of a sweep: a folder this command made and no job of it kept (all
    refused) is removed; the lock is released."""
    sweep, handle, made_top = _state.pop("sweep", None), _state.pop("handle", None), _state.pop("made_top", None)
    if sweep is not None and made_top is not None and sweep.is_dir():
        if not any(p.is_dir() for p in sweep.iterdir()):
            shutil.rmtree(made_top, ignore_errors=True)
            _removed.add(sweep)
    if handle is not None:
        handle.close()


_removed: set[Path] = set()  # sweep folders removed because every job was refused


def removed_for_refusals(sweep: Path) -> bool:
    """Whether this process removed ``sweep``, made only for jobs that were all refused."""
    return Path(os.path.abspath(sweep)) in _removed


def _keep_multirun_yaml() -> None:
    """Hydra's basic sweeper saves multirun.yaml at every start; here it leaves one
    that exists (a resumed sweep's record stays the first sweep's, byte for byte)."""
    from hydra._internal.core_plugins import basic_sweeper

    if not isinstance(basic_sweeper.OmegaConf, _KeepMultirunYaml):
        basic_sweeper.OmegaConf = _KeepMultirunYaml()


class _KeepMultirunYaml:
    """OmegaConf as hydra's basic_sweeper module sees it, but for save() of an existing multirun.yaml."""

    def __getattr__(self, name: str) -> Any:
        return getattr(OmegaConf, name)

    @staticmethod
    def save(config: Any, f: Any, resolve: bool = False) -> None:
        if isinstance(f, (str, os.PathLike)) and Path(f).name == LEGACY_RECORD and Path(f).exists():
            return
        OmegaConf.save(config, f, resolve=resolve)


class FolderClaim(Callback):
    """The Hydra callback: a single run notes what existed before Hydra makes its folder;
    a sweep claims its folder before any job starts and lets it go at its end."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        try:
            _state["run_existed"] = first_existing(Path(str(config.hydra.run.dir)))
        except Exception:  # noqa: BLE001  (an interpolation only Hydra's run can resolve: the folder alone is removed)
            _state.pop("run_existed", None)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        try:
            claim_sweep(config)
        except Exception as exc:  # noqa: BLE001  (Hydra would only warn and run the sweep unclaimed)
            print(f"error: cannot claim the sweep folder: {type(exc).__name__}: {' '.join(str(exc).split())}",
                  file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        end_sweep()

"""Command-line mistakes Hydra meets before an app's code runs, caught first
and said in one line: an unknown option of a config group (listing the valid
ones) and a run directory that cannot be created.

Generic over apps: a group's options are its <dir>/<group>/*.yaml files in the
app's config folders (its own tree and the shared one) plus what is registered
in Hydra's ConfigStore under that group (the trick groups). A group or option
that belongs to another app (`lecun1989 data=cifar10`, `lecun1989 trick2012=...`)
is named as that app's. Anything this module cannot read with certainty is left
to Hydra.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

PathLike = str | os.PathLike[str]


def _dirs(conf_dirs: PathLike | Sequence[PathLike]) -> list[Path]:
    return [Path(conf_dirs)] if isinstance(conf_dirs, (str, os.PathLike)) else [Path(d) for d in conf_dirs]


def _file_options(conf_dirs: PathLike | Sequence[PathLike], group: str) -> set[str] | None:
    found, options = False, set()
    for folder in (d / group for d in _dirs(conf_dirs)):
        if folder.is_dir():
            found = True
            options.update(p.stem for p in folder.glob("*.yaml") if p.is_file())
    return options if found else None


def group_options(conf_dirs: PathLike | Sequence[PathLike], group: str, store: bool = True) -> list[str] | None:
    """The options of config group ``group`` (``trick``, ``model/ops``...) in
    the config folders ``conf_dirs`` (and, with ``store``, Hydra's ConfigStore),
    sorted; None if no such group exists."""
    files = _file_options(conf_dirs, group)
    found = files is not None
    options: set[str] = set(files or ())
    if not store:
        return sorted(options) if found else None
    node = ConfigStore.instance().repo
    for part in group.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        found = True
        options.update(name.removesuffix(".yaml") for name, value in node.items()
                       if name.endswith(".yaml") and not isinstance(value, dict))
    return sorted(options) if found else None


def _parse_command_line(args: list[str]):
    """Hydra's own reading of the command line (flags and overrides), or None
    if it cannot be read (Hydra then says why)."""
    try:
        from hydra._internal.utils import get_args_parser
        from hydra.core.override_parser.overrides_parser import OverridesParser

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            flags = get_args_parser().parse_args(args)
        overrides = OverridesParser.create().parse_overrides(flags.overrides)
    except (Exception, SystemExit):
        return None
    return flags, overrides


def _chosen_names(override) -> list[str]:
    """Every option name an override of a group selects (lists and sweeps included)."""
    if override.is_delete():
        return []
    try:
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
    except Exception:  # a glob, range or interval sweep: Hydra reads those
        return []
    names: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                names.append(item)
    return names


def top_level_keys(primary: PathLike) -> list[str]:
    """The top-level keys an app's primary config file composes: its own keys
    (not `defaults`, `hydra`) and the groups its defaults list places at the top
    (data, model, trick, logger...). The apps read these and nothing else."""
    import yaml

    with open(primary, encoding="utf-8") as f:
        text = yaml.safe_load(f) or {}
    keys = {k for k in text if k not in ("defaults", "hydra")}
    for entry in text.get("defaults") or []:
        for name in map(str, entry if isinstance(entry, Mapping) else ()):
            if name.startswith("override ") or "/" in name or "@" in name or _global_group(Path(primary).parent / name):
                continue
            keys.add(name)
    return sorted(keys)


def _global_group(folder: Path) -> bool:
    """A group whose options are `# @package _global_` (experiment): it adds no key of its own."""
    return any(p.read_text(encoding="utf-8").lstrip().startswith("# @package _global_") for p in folder.glob("*.yaml"))


def _unread_key(key: str, override, top_keys: Sequence[str] | None) -> str | None:
    """The message for a value override whose top-level key the app does not
    have (`+foo=1`, `+parallel.mode=none` on lecun1989, `foo=1`): Hydra would
    record an appended key no code reads, or fail with "not in struct"."""
    top = key.split(".")[0]
    if top_keys is None or top in top_keys or override.is_delete():
        return None
    how = "appended, but no part of this command reads it" if override.is_add() or override.is_force_add() \
        else "not a key of this command's config"
    return f"unknown key {key} ({how}); valid top-level keys: {', '.join(top_keys)}"


def unknown_option(conf_dirs: PathLike | Sequence[PathLike], overrides,
                   others: Mapping[str, PathLike] | None = None,
                   foreign_groups: Mapping[str, str] | None = None,
                   top_keys: Sequence[str] | None = None) -> str | None:
    """The message for the first override naming an option its group does not
    have, a group only another app has, or a top-level key outside ``top_keys``
    (the app's: `top_level_keys`; None: not checked). ``others``: the other apps' config
    trees by app name; ``foreign_groups``: Python-registered groups of other
    apps (group -> app), absent from this process's ConfigStore."""
    others = others or {}
    foreign_groups = dict(foreign_groups or {})
    for override in overrides:
        group = override.key_or_group
        if group.split("/")[0].split(".")[0] == "hydra":
            continue  # Hydra's own groups (launchers... from plugins) and settings
        if "." in group:
            unread = _unread_key(group, override, top_keys)
            if unread is not None:
                return unread
            continue  # a plain value: its group's typed config checks it
        options = group_options(conf_dirs, group)
        if options is None:
            owner = foreign_groups.get(group) or next(
                (app for app, tree in others.items() if _file_options(tree, group) is not None), None)
            if owner is not None:
                return f"{group} is a config group of {owner}, not of this command (run {owner} {override.input_line})"
            unread = _unread_key(group, override, top_keys)
            if unread is not None:
                return unread
            continue
        for name in _chosen_names(override):
            if name not in options:
                hint = next((f" ({name} is {app}'s: run {app} {group}={name})" for app, tree in others.items()
                             if name in (_file_options(tree, group) or ())), "")
                return f"unknown {group} {name!r}; valid: {', '.join(options)}{hint}"
    return None


def _writable_problem(path: Path) -> str | None:
    """Why a folder cannot be created or written at ``path``, or None."""
    path = Path(os.path.abspath(path.expanduser()))
    existing = path
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user (permission denied or a read-only file system)"
    if existing != path:
        # access() can say yes where mkdir fails (root on a root-squashed NFS share, /proc):
        # make and remove a folder of a name no one else uses.
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".repro-write-check-", dir=existing))
        except OSError as exc:
            return f"cannot create a folder in {existing} ({exc.strerror or exc})"
    return None


def unwritable_run_dir(flags, overrides) -> str | None:
    """The message if the run directory named on the command line cannot be
    created (Hydra creates it before the app runs, and fails with a traceback)."""
    if flags.help or flags.hydra_help or flags.cfg or flags.info or flags.shell_completion:
        return None  # nothing is written
    key = "hydra.sweep.dir" if flags.multirun else "hydra.run.dir"
    chosen = [o for o in overrides if o.key_or_group == key and not o.is_delete() and not o.is_sweep_override()]
    if not chosen:
        return None
    value = chosen[-1].value()
    if not isinstance(value, str) or "${" in value or not value:
        return None  # interpolations are Hydra's to resolve
    problem = _writable_problem(Path(value))
    if problem is None:
        return None
    return f"{key}={value} cannot be created: {problem}; choose another folder ({key}=...)"


@functools.lru_cache(maxsize=None)
def _config_file(path: Path) -> tuple[bool, Any]:
    """(whether the file is `# @package _global_`, its YAML); (False, None) if unreadable."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: these files are read on every command
        return text.lstrip().startswith("# @package _global_"), yaml.load(text, Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False, None


def group_keys(conf_dirs: PathLike | Sequence[PathLike], group: str, everywhere: bool = True) -> set[str] | None:
    """Every key any config file can give group ``group`` (the top-level node
    `trainer`, `data`...): the keys of each of its options and its subgroups
    (model/ops), and, with ``everywhere``, what the primary config and the
    `_global_` files (experiments, rows) set under it. None where that cannot be
    read from files (a group stored in Python only, or whose files give no key)."""
    keys: set[str] = set()
    for conf in _dirs(conf_dirs):
        folder = conf / group
        if folder.is_dir():
            keys.update(p.name for p in folder.iterdir() if p.is_dir())
            for option in folder.glob("*.yaml"):
                is_global, text = _config_file(option)
                if isinstance(text, Mapping) and not is_global:
                    keys.update(str(k) for k in text if k != "defaults")
        for path in conf.rglob("*.yaml") if everywhere else ():
            is_global, text = _config_file(path)
            if (path.parent == conf or is_global) and isinstance(text, Mapping):
                node = text.get(group)
                if isinstance(node, Mapping):
                    keys.update(str(k) for k in node)
    return keys or None


def unknown_nested_key(conf_dirs: PathLike | Sequence[PathLike], overrides) -> str | None:
    """The message for a value override naming a key its group has in no config
    file (`trainer.epoch=1`): Hydra would answer with its raw text, advising
    `+trainer.epoch=1`, which the app then refuses as a key nothing reads."""
    for override in overrides:
        key = override.key_or_group
        if "." not in key or key.startswith("hydra.") or override.is_add() or override.is_force_add() \
                or override.is_delete():
            continue
        group, sub = key.split(".")[:2]
        if sub in (group_keys(conf_dirs, group, everywhere=False) or ()):
            continue  # the common case, read from the group's own files alone
        valid = group_keys(conf_dirs, group)
        if valid is not None and sub not in valid:
            return f"unknown key {key}: {group} has no key {sub!r}; valid keys of {group}: {', '.join(sorted(valid))}"
    return None


def bad_launcher_value(overrides) -> str | None:
    """hydra.launcher.n_jobs must be a count of jobs at once (>= 1) or -1 (one per CPU):
    0 or another negative would fail inside the launcher, with a traceback."""
    for override in overrides:
        if override.key_or_group != "hydra.launcher.n_jobs" or override.is_delete() or override.is_sweep_override():
            continue
        value = override.value()
        if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and value != -1):
            return (f"hydra.launcher.n_jobs={override.get_value_element_as_str()}: give the number of jobs to run "
                    f"at once (>= 1), or -1 for one per CPU")
    return None


def conflicting_modes(flags) -> str | None:
    """Two of Hydra's modes at once (`-m ... --cfg job`): Hydra raises a bare ValueError for it."""
    modes = [name for name, on in (("-m/--multirun", flags.multirun), ("--cfg", flags.cfg), ("--info", flags.info),
                                   ("--shell-completion", flags.shell_completion), ("--run", flags.run)) if on]
    if len(modes) < 2:
        return None
    hint = " (drop -m to see the config of one job of the sweep)" if "-m/--multirun" in modes and "--cfg" in modes else ""
    return f"{' and '.join(modes)} together: give one of them{hint}"


def check_command_line(conf_dirs: PathLike | Sequence[PathLike], args: list[str],
                       others: Mapping[str, PathLike] | None = None,
                       foreign_groups: Mapping[str, str] | None = None,
                       top_keys: Sequence[str] | None = None) -> str | None:
    """The one-line message for a command-line mistake Hydra would only report
    with a traceback or a long listing, or None to let Hydra go on. ``conf_dirs``:
    the app's config folders (its tree, the shared one); ``others``,
    ``foreign_groups`` and ``top_keys``: see `unknown_option`."""
    parsed = _parse_command_line(args)
    if parsed is None:
        return None
    flags, overrides = parsed
    return (conflicting_modes(flags) or unknown_option(conf_dirs, overrides, others, foreign_groups, top_keys)
            or unknown_nested_key(conf_dirs, overrides) or bad_launcher_value(overrides)
            or unwritable_run_dir(flags, overrides))

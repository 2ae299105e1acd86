"""Typed views of Hydra config groups.

Hydra gives us an untyped tree; each era turns the groups it reads into frozen
dataclasses here so that a typo or a wrong value fails before any data is
loaded, with the config path in the message.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or out of range."""


def _to_plain(value: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra
        pass
    return value


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: {value!r} is not allowed")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_check_type(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if annotation is Any:
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            # nan compares false with every bound a validate() checks: it would pass them all.
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        return parse(annotation, value, where)
    return value


def parse(cls: type[T], mapping: Mapping[str, Any] | Any, where: str) -> T:
    """Build dataclass ``cls`` from ``mapping``, rejecting unknown or ill-typed keys.

    ``where`` is the config path (``model``, ``trainer``...) used in messages.
    A dataclass may define ``validate(self)`` for range checks.
    """
    mapping = _to_plain(mapping)
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
    kwargs = {}
    for name, field in fields.items():
        if name in mapping:
            kwargs[name] = _check_type(mapping[name], hints[name], f"{where}.{name}")
            if is_seed_key(name) and isinstance(kwargs[name], int):
                parse_seed(kwargs[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name} is required")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return obj


def is_seed_key(name: str) -> bool:
    """A key that seeds a random number generator (`seed`, `data.val_seed`,
    `data.subset_seed`...): every one is range-checked as `parse_seed` checks the
    run's seed, so that no RNG meets a value it cannot take (a traceback)."""
    return name == "seed" or name.endswith("_seed")


def parse_seed(value: Any, where: str = "seed") -> int:
    """The run's seed, checked before anything is trained: an integer in
    [0, 2**32), a range every RNG seeded from it accepts (the loop's
    per-pass orders seed torch with seed * 1_000_003 + pass)."""
    value = _check_type(_to_plain(value), int, where)
    if not 0 <= value < 2**32:
        raise ConfigError(f"{where}: {value} is out of range; use an integer in [0, 2**32)")
    return value

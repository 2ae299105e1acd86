"""What a trick is: a named, cited function recipe -> recipe.

A trick declares the recipe fields it may change (`changes`) and the stage it
runs in. `compose.apply_tricks` runs the selected tricks in stage order, checks
at run time that each changed only what it declares, and refuses two tricks of
one stage that change the same field, so the result never depends on the order
in which a user lists them.

Recipes are frozen dataclasses (an era's `Recipe`); tricks edit them by dotted
path (`edit(recipe, {"model.activation": "relu"})`), so a trick works on any
era whose recipe has the fields it names.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class Stage(enum.IntEnum):
    """The fixed order tricks are applied in; later stages build on earlier ones."""

    DATA = 10  # what is trained on, and how it is augmented
    ARCHITECTURE = 20  # activations, widths, normalisation, dropout
    INIT = 30  # initialisation (after the activation it is scaled for)
    LOSS = 40  # loss and output layer
    OPTIMIZER = 50  # optimizer (replaces whatever the loss stage assumed)
    SCHEDULE = 60  # learning-rate schedule over the optimizer's rate
    TRAINING = 70  # passes, batch size, precision


@dataclass(frozen=True)
class NoParams:
    pass


@dataclass(frozen=True)
class Trick:
    name: str
    origin: str  # one line: paper and year
    summary: str  # one line: what it changes
    stage: Stage
    changes: tuple[str, ...]  # dotted recipe fields it may set
    apply: Callable[[Any, Any], Any]  # (recipe, params) -> recipe
    params: type = NoParams  # frozen dataclass; defaults equal conf/trick/<name>.yaml
    # Problems with the composed recipe this trick cannot live with (empty: none).
    check: Callable[[Any], list[str]] = lambda recipe: []
    # The era whose recipe it edits: each era has its own catalogue (the same
    # change, e.g. dropout, edits different fields in 1989 and in 2012).
    era: str = "lecun1989"


TRICKS_BY_ERA: dict[str, dict[str, Trick]] = {"lecun1989": {}, "alexnet2012": {}}
TRICKS = TRICKS_BY_ERA["lecun1989"]  # the 1989 catalogue (the `trick` group of lecun1989)


def register(trick: Trick) -> Trick:
    catalogue = TRICKS_BY_ERA.setdefault(trick.era, {})
    if trick.name in catalogue:
        raise ValueError(f"trick {trick.name!r} registered twice for {trick.era}")
    catalogue[trick.name] = trick
    return trick


def edit(obj: Any, changes: Mapping[str, Any]) -> Any:
    """A copy of nested frozen dataclass ``obj`` with dotted fields replaced."""
    nested: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    for path, value in changes.items():
        head, _, rest = path.partition(".")
        if not any(f.name == head for f in dataclasses.fields(obj)):
            raise AttributeError(f"{type(obj).__name__} has no field {head!r}")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        direct[head] = edit(getattr(obj, head), sub)
    return dataclasses.replace(obj, **direct)


def flat_fields(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf field of a nested dataclass as {"a.b": value}."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flat_fields(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def changed_fields(before: Any, after: Any) -> set[str]:
    a, b = flat_fields(before), flat_fields(after)
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}

"""What a trick is: a named, cited function recipe -> recipe.

A trick declares the recipe fields it may change (`changes`) and the stage it
runs in. `compose.apply_tricks` runs the selected tricks in stage order, checks
at run time that each changed only what it declares, and refuses two tricks of
one stage that change the same field, so the result never depends on the order
in which a user lists them.

Recipes are frozen dataclasses (an era's `Recipe`); tricks edit them by dotted
path (`edit(recipe, {"model.activation": "relu"})`), so a trick works on any
era whose recipe has the fields it names.

A trick is declared once, here in Python: its parameters' defaults are the
fields of its `params` dataclass, and its one-line summary names them as
`{field}` placeholders, never as copied numbers. Everything else is derived:
the Hydra config groups (`register_configs`, configs.py) and the tables of
modern_tricks/README.md (catalogue.py).
"""

from __future__ import annotations

import dataclasses
import enum
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    # One line: what it changes. Write a parameter as `{field}` (format specs
    # allowed: `{warmup:.0%}`); as given it is the template, as read it is
    # rendered with the defaults (`describe(params)` renders other values).
    summary: str
    stage: Stage
    changes: tuple[str, ...]  # dotted recipe fields it may set
    apply: Callable[[Any, Any], Any]  # (recipe, params) -> recipe
    # Frozen dataclass of the parameters: its defaults are the trick's defaults
    # (the Hydra group option `<group>/<name>` is made from them: configs.py).
    params: type = NoParams
    # Problems with the composed recipe this trick cannot live with (empty: none).
    check: Callable[[Any], list[str]] = lambda recipe: []
    # The era whose recipe it edits: each era has its own catalogue (the same
    # change, e.g. dropout, edits different fields in 1989 and in 2012).
    era: str = "lecun1989"
    template: str = field(init=False, repr=False, compare=False)  # the summary as declared

    def __post_init__(self) -> None:
        fields = {f.name for f in dataclasses.fields(self.params)}
        named = {f for _, f, _, _ in string.Formatter().parse(self.summary) if f is not None}
        if named - fields:
            raise ValueError(f"trick {self.name}: summary names {sorted(named - fields)}, "
                             f"not parameters of {self.params.__name__} ({sorted(fields)})")
        object.__setattr__(self, "template", self.summary)
        object.__setattr__(self, "summary", self.describe())

    def defaults(self) -> dict[str, Any]:
        """The parameters' defaults, {field: value} (what `trick=[name]` selects)."""
        return dataclasses.asdict(self.params())

    def describe(self, params: Any = None) -> str:
        """The summary with ``params``' values (default: the defaults); true,
        false and null written as in a Hydra override."""
        values = params if params is not None else self.params()
        return self.template.format(**{f.name: as_override(getattr(values, f.name))
                                       for f in dataclasses.fields(values)})


def as_override(value: Any) -> Any:
    """``value`` as written in a Hydra override: true, false, null; anything else as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else value


TRICKS_BY_ERA: dict[str, dict[str, Trick]] = {"lecun1989": {}, "alexnet2012": {}}
TRICKS = TRICKS_BY_ERA["lecun1989"]  # the 1989 catalogue (the `trick` group of lecun1989)
# Each era's Hydra config group: `trick=[softmax_ce,adamw]`, `trick2012=[dropout]`.
GROUP_BY_ERA: dict[str, str] = {"lecun1989": "trick", "alexnet2012": "trick2012"}


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

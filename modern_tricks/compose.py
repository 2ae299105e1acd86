"""Apply a selection of tricks to a recipe in the fixed, documented order.

Order: by `Stage` (data, architecture, init, loss, optimizer, schedule,
training), then by name. A later stage may change a field an earlier one set
(the optimizer stage replaces the rate `softmax_ce` chose for SGD; a schedule
trick replaces `adamw`'s linear decay); two tricks of the same stage may not
change the same field (`cosine_lr` with `one_cycle` is an error, not a
coin-flip on list order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repro.config import ConfigError, parse

from .trick import GROUP_BY_ERA, TRICKS_BY_ERA, Trick, changed_fields


@dataclass(frozen=True)
class Applied:
    name: str
    params: Any
    changed: tuple[str, ...]


def ordered(names, era: str = "lecun1989") -> list[Trick]:
    catalogue = TRICKS_BY_ERA[era]
    group = GROUP_BY_ERA[era]
    unknown = sorted(set(names) - set(catalogue))
    if unknown:
        raise ConfigError(f"{group}: unknown trick(s) {unknown}; known: {sorted(catalogue)}")
    return sorted((catalogue[n] for n in set(names)), key=lambda t: (t.stage, t.name))


def apply_tricks(recipe: Any, selection: Mapping[str, Mapping[str, Any] | None],
                 era: str = "lecun1989") -> tuple[Any, tuple[Applied, ...]]:
    """``selection`` maps trick name -> its parameters (the `trick` config
    group, e.g. {"softmax_ce": {"sgd_lr": 0.01}, "relu": {}}); ``era`` picks
    the catalogue (1989: `trick`, 2012: `trick2012`)."""
    group = GROUP_BY_ERA[era]
    applied: list[Applied] = []
    set_by: dict[str, Trick] = {}
    for trick in ordered(selection, era):
        params = parse(trick.params, selection[trick.name] or {}, f"{group}.{trick.name}")
        new = trick.apply(recipe, params)
        changed = changed_fields(recipe, new)
        undeclared = sorted(f for f in changed if f not in trick.changes)
        if undeclared:  # a bug in the trick, not a user error
            raise RuntimeError(f"trick {trick.name} changed {undeclared}, which it does not declare")
        for f in sorted(changed):
            other = set_by.get(f)
            if other is not None and other.stage == trick.stage:
                raise ConfigError(
                    f"{group}: {other.name} and {trick.name} both change {f} at the {trick.stage.name.lower()} "
                    "stage; choose one"
                )
            set_by[f] = trick
        _recheck(new, changed, trick, group)
        recipe = new
        applied.append(Applied(trick.name, params, tuple(sorted(changed))))
    problems = [f"trick {t.name}: {p}" for t in ordered(selection, era) for p in t.check(recipe)]
    if problems:
        raise ConfigError("; ".join(problems))
    return recipe, tuple(applied)


def _recheck(recipe: Any, changed, trick: Trick, group: str) -> None:
    """Each config group a trick changed, checked again as the command line's
    values are (types, choices, ranges): a trick may only change values a base
    option accepts. `optim=sdlm trick=[adamw]` would otherwise run AdamW
    inside an SDLM config that `config.yaml` records as sdlm."""
    for head in sorted({f.split(".")[0] for f in changed}):
        part = getattr(recipe, head)
        if not dataclasses.is_dataclass(part):
            continue
        plain = dataclasses.asdict(part)  # nested configs (a net's layer list) as the mappings parse reads
        values = {f.name: plain[f.name] for f in dataclasses.fields(part) if f.init}
        try:
            parse(type(part), values, head)
        except ConfigError as exc:
            raise ConfigError(f"{group}: {trick.name} does not apply to this run's {head} ({exc}); "
                              f"drop the trick or choose a {head} option it applies to") from None

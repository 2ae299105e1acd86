"""The trick config groups, made for Hydra from the Python catalogue.

Each trick is one option of its era's group (`trick` for lecun1989,
`trick2012` for alexnet2012), stored in Hydra's ConfigStore under the package
`<group>.<name>`, holding its params dataclass's defaults. So

    lecun1989 trick=[softmax_ce,adamw] trick.dropout.p=0.5
    defaults: [override /trick: [softmax_ce, adamw]]      (conf/<era>/row/**, conf/<era>/experiment/**)

compose exactly as the YAML files conf/trick/<name>.yaml did (`# @package
trick.<name>`); there are no such files any more. The options hold plain
values, as the YAML did: the era reads them into the params dataclass
(`repro.config.parse` in compose.apply_tricks), the one place that checks
types and ranges.

Hydra reads the ConfigStore when it composes, so an app calls
`register_configs(era)` before that: at import, as lecun1989/cli.py and
alexnet2012/cli.py do, each for its own era only (the store is global to a
process, and `lecun1989 --help` lists only the 1989 groups); tests compose both
eras in one process and register every era (tests/conftest.py).
"""

from __future__ import annotations

from .trick import GROUP_BY_ERA, TRICKS_BY_ERA


def register_configs(*eras: str) -> None:
    """Store every trick of the given eras (default: every era) as an option of
    its era's Hydra group.

    Idempotent: each call stores the same nodes under the same names again.
    """
    from hydra.core.config_store import ConfigStore

    unknown = set(eras) - set(TRICKS_BY_ERA)
    if unknown:
        raise ValueError(f"no trick catalogue for {sorted(unknown)}; eras: {sorted(TRICKS_BY_ERA)}")
    store = ConfigStore.instance()
    for era, catalogue in TRICKS_BY_ERA.items():
        if eras and era not in eras:
            continue
        group = GROUP_BY_ERA[era]
        for name, trick in catalogue.items():
            store.store(group=group, name=name, node=trick.defaults(), package=f"{group}.{name}",
                        provider="modern_tricks")

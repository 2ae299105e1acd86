"""The trick config groups, made for Hydra from the Python catalogue.

Each trick is one option of its era's group (`trick` for lecun1989,
`trick2012` for alexnet2012), stored in Hydra's ConfigStore under the package
`<group>.<name>`, holding its params dataclass's defaults. So

    lecun1989 trick=[softmax_ce,adamw] trick.dropout.p=0.5
    defaults: [override /trick: [softmax_ce, adamw]]      (conf/row/**, conf/experiment/**)

compose exactly as the YAML files conf/trick/<name>.yaml did (`# @package
trick.<name>`); there are no such files any more. The options hold plain
values, as the YAML did: the era reads them into the params dataclass
(`repro.config.parse` in compose.apply_tricks), the one place that checks
types and ranges.

Hydra reads the ConfigStore when it composes, so an app calls
`register_configs()` before that: at import, as lecun1989/cli.py and
alexnet2012/cli.py do (tests: tests/conftest.py).
"""

from __future__ import annotations

from .trick import GROUP_BY_ERA, TRICKS_BY_ERA


def register_configs() -> None:
    """Store every trick of every era as an option of its Hydra group.

    Idempotent: each call stores the same nodes under the same names again.
    """
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for era, catalogue in TRICKS_BY_ERA.items():
        group = GROUP_BY_ERA[era]
        for name, trick in catalogue.items():
            store.store(group=group, name=name, node=trick.defaults(), package=f"{group}.{name}",
                        provider="modern_tricks")

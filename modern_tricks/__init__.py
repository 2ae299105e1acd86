"""The modern changes since 1989, as composable tricks (recipe -> recipe).

One module per kind of change; each trick is declared once, in Python (its
parameters' defaults, what it changes, its origin: trick.py). The Hydra group
`trick` selects several at once (`trick=[softmax_ce,adamw]`, its options made
from the declarations by `register_configs`, configs.py); `apply_tricks`
composes them in a fixed order (compose.py). The 2012 era has its own
catalogue (cifar2012.py, the `trick2012` group of alexnet2012). The tables of
modern_tricks/README.md are generated from both (`python -m modern_tricks.catalogue`).
"""

from . import architecture, cifar2012, data, init, loss, optim, training  # noqa: F401  (registration)
from .compose import Applied, apply_tricks, ordered
from .configs import register_configs
from .trick import GROUP_BY_ERA, TRICKS, TRICKS_BY_ERA, Stage, Trick

__all__ = ["GROUP_BY_ERA", "TRICKS", "TRICKS_BY_ERA", "Applied", "Stage", "Trick", "apply_tricks", "ordered",
           "register_configs"]

"""The modern changes since 1989, as composable tricks (recipe -> recipe).

One module per kind of change; each trick names its origin in one line. The
Hydra group `conf/trick/` selects several at once (`trick=[softmax_ce,adamw]`);
`apply_tricks` composes them in a fixed order (see compose.py). The 2012 era
has its own catalogue (cifar2012.py, the `trick2012` group of alexnet2012).
"""

from . import architecture, cifar2012, data, init, loss, optim, training  # noqa: F401  (registration)
from .compose import Applied, apply_tricks, ordered
from .trick import TRICKS, TRICKS_BY_ERA, Stage, Trick

__all__ = ["TRICKS", "TRICKS_BY_ERA", "Applied", "Stage", "Trick", "apply_tricks", "ordered"]

"""The modern changes since 1989, as composable tricks (recipe -> recipe).

One module per kind of change; each trick names its origin in one line. The
Hydra group `conf/trick/` selects several at once (`trick=[softmax_ce,adamw]`);
`apply_tricks` composes them in a fixed order (see compose.py).
"""

from . import architecture, data, init, loss, optim, training  # noqa: F401  (registration)
from .compose import Applied, apply_tricks, ordered
from .trick import TRICKS, Stage, Trick

__all__ = ["TRICKS", "Applied", "Stage", "Trick", "apply_tricks", "ordered"]

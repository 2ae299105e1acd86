"""The ops seam: which implementation each AlexNet layer type uses (``model.ops``).

    registry.py  the table kind -> {"torch": torch layer, "custom": hand-written kernel layer},
                 ``make``, ``OpsConfig``
    fusion.py    layer + ReLU, fused where a custom kernel can

The layers themselves, with their kernels and references, are alexnet2012/kernels/<family>.py.
Importing this builds nothing.
"""

from .fusion import activate, without_bias
from .registry import KINDS, OpsConfig, available, make, register

__all__ = ["KINDS", "OpsConfig", "activate", "available", "make", "register", "without_bias"]

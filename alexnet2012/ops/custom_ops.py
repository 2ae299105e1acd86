"""The "custom" implementations: the hand-written kernels of alexnet2012/kernels.

Registered here by name only; the kernels' library is built (or loaded from
its cache) the first time a "custom" layer is constructed, so configs that
do not use them never compile anything.
"""

from __future__ import annotations

from .registry import register


def _lazy(class_name: str):
    def factory(**layer_args):
        from alexnet2012.kernels import modules

        return getattr(modules, class_name)(**layer_args)

    factory.__name__ = f"custom_{class_name}"
    return factory


register("conv", "custom", _lazy("Conv2d"))
register("fc", "custom", _lazy("Linear"))
register("lrn", "custom", _lazy("LRN"))
register("pool", "custom", _lazy("MaxPool"))
register("activation", "custom", _lazy("BiasReLU"))
register("dropout", "custom", _lazy("Dropout"))
register("loss", "custom", _lazy("CrossEntropy"))

"""Fused backends of the 1989 trainer: a C++ CPU kernel and a persistent CUDA kernel.

Sources in csrc/, build step in build.py, the glue to the shared loop in stepper.py.
"""

from .stepper import BACKENDS, fused_steps, unsupported

__all__ = ["BACKENDS", "fused_steps", "unsupported"]

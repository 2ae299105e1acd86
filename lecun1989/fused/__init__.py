"""Fused backends of the 1989 trainer: a C++ CPU kernel and a persistent CUDA kernel.

Sources in csrc/, build step in build.py, the glue to the shared loop in stepper.py.
"""

from .stepper import BACKENDS, CHOICES, FusedStepper, fused_curvature, fused_steps, resolve_backend, unsupported

__all__ = ["BACKENDS", "CHOICES", "FusedStepper", "fused_curvature", "fused_steps", "resolve_backend", "unsupported"]

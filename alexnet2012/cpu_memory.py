"""Freed CPU tensors stay in the process's heap for the next training step (issue 32).

PyTorch's CPU allocator has no cache: every step's activations and gradients are malloc'd and
freed again. glibc hands blocks above its mmap threshold back to the kernel when they are freed
(and trims the heap's top), so the next step page-faults the same megabytes in again and the
kernel zeroes each page first: on a cuda-convnet CIFAR step (tensors up to 17 MB) that cost
about a sixth of the step on 2 shared cores (bench/cifar_step.py). Fixing the mmap threshold at
its maximum (32 MiB) and raising the trim threshold keeps those blocks for reuse. Values are
untouched; the process keeps its peak heap. Tensors above 32 MiB (the paper net's 224-pixel
activations) are mmap'd as before.

Measured in the steady state of a training loop (tests/alexnet2012/convnet/test_fast_path.py): the
median step faults no page in with these settings and hundreds to thousands without them. (A lone
16 MiB tensor allocated and freed in a fresh process was still faulted in afresh each time: the
reuse comes once the heap has grown to a step's peak.) On the whole CPU step, bench/cifar_step.py
measures this with the other changes of issue 32, not alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 1 << 30  # return the heap's top to the kernel only when a GiB of it is free


def keep_freed_cpu_memory() -> bool:
    """Set glibc's thresholds as the module docstring says; False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

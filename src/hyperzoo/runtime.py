"""Process settings the ``hyperzoo`` command makes before torch is imported
(`hyperzoo.process_setup`, imported first by the CLI).

- **OpenMP waiting** is left at OpenMP's default (spinning). ``OMP_WAIT_POLICY=PASSIVE`` helps
  jobs that share cores (two jobs of 2 threads on this 2-core machine: 0.31 s per step of the
  Deutsch MNIST target instead of 0.8-5.9 s) but slows a job alone whose kernels are short:
  200 steps of the digits demo took 32 s instead of 16 s with 2 threads. So it is the user's
  choice (set it, or ``train.threads=1`` per job), not a default.

- **Allocator** (glibc only): PyTorch's CPU tensors come from ``malloc``; a buffer above glibc's
  mmap threshold is mapped and unmapped on every allocation, and freed memory at the heap's
  top is trimmed back to the kernel, so a loop that allocates the same large activations
  again and again page-faults them in every time. ``mallopt`` with a fixed, high
  ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` keeps them in the heap for reuse (what the
  environment variables ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` do). Skipped
  silently where the C library is not glibc, and where the user set those variables (or malloc
  tunables in ``GLIBC_TUNABLES``).
  Measured alone (bench/results/allocator_evaluate.json): ``hyperzoo evaluate`` of 10 MNIST
  networks on 10,000 images, 2 threads, 17.4 s → 10.6 s, minor page faults 7.8 M → 0.22 M,
  peak memory 0.63 → 0.99 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# 1 GiB: above any one activation buffer of the built-in recipes (glibc caps the mmap
# threshold at HEAP_MAX/2 = 32 MiB on 64-bit unless set explicitly, which this does).
THRESHOLD = 1 << 30


def configure_process() -> None:
    """The allocator's thresholds; call before importing torch (see the module docstring for
    why OpenMP's waiting policy is not changed)."""
    tune_allocator()


def tune_allocator() -> bool:
    """Keep large freed buffers in the heap (glibc ``mallopt``); True when applied."""
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")) or (
            "malloc." in os.environ.get("GLIBC_TUNABLES", "")):  # the user's own glibc settings
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))

"""Shared by the benchmarks: the device, its matmul peak measured in the same run, FLOP counts.

``fraction_of_peak`` = achieved FLOP/s ÷ the float32 matmul FLOP/s measured here and now (not
a datasheet number), so it says how far a workload is from what this device does at best.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from hyperzoo.data import load_dataset
from hyperzoo.devices import machine  # noqa: F401  (re-exported: the benchmarks record it)
from hyperzoo.runtime import tune_allocator

# Every benchmark compares float32 work with a float32 matmul peak (TF32 off, below). cuDNN's
# convolutions default to TF32 on Ampere and later GPUs, which would count a lower-precision
# convolution against the float32 peak (a fraction of peak above 1 for a convolution-bound step).
torch.backends.cudnn.allow_tf32 = False


def sync(device: torch.device) -> None:
    """Wait for queued work (CUDA kernels run asynchronously; timings need it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int,
                   warmup: bool = True) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs, synchronised on ``device``."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rotated(items: list, i: int) -> list:
    """Round ``i``'s order of the variants ``items``: rounds 2k and 2k + 1 run the items rotated
    by k, forwards then backwards, so over each pair of rounds every two variants run in both
    orders (a rotation alone kept one variant before another in most rounds; a review,
    2026-12-06) and over several pairs each variant also starts a round."""
    if not items:
        return []
    if len(items) == 2:  # rotating two by k undid the reversal every other pair: AB BA BA AB
        return items[::-1] if i % 2 else list(items)
    k = (i // 2) % len(items)
    order = items[k:] + items[:k]
    return order[::-1] if i % 2 else order


def round_peak(row: dict) -> float:
    """A round's peak in GFLOP/s: the larger of its median matmul and its ceiling. The median
    alone read low in some rounds (194 against a ceiling of 317 in the same round), and a round
    whose denominator reads low flatters every fraction in it (a review, 2026-12-06)."""
    return max(row["matmul_peak_gflop_per_s"], row.get("matmul_ceiling_gflop_per_s", 0.0))


def matmul_peak(device: torch.device, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of a square ``dtype`` matmul large enough to saturate ``device`` (TF32 off on CUDA:
    the workloads here run in float32)."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        seconds = median_seconds(lambda: a @ b, device, repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return 2 * n ** 3 / seconds


def matmul_ceiling(device: torch.device, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """The fastest FLOP/s of any one square ``dtype`` matmul of three sizes, ``repeats`` each:
    a ceiling, where `matmul_peak` (a median of one size) is typical. A review (2026-12-06) found
    the median moving between rounds by more than the spreads reported against it."""
    sizes = (4096, 8192, 16384) if device.type == "cuda" else (1024, 2048, 4096)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    best = 0.0
    try:
        for n in sizes:
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            a @ b  # warm-up
            for _ in range(repeats):
                sync(device)
                start = time.perf_counter()
                a @ b
                sync(device)
                best = max(best, 2 * n ** 3 / (time.perf_counter() - start))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return best


def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations (2 per multiply-add) of one call of ``fn`` (matmuls and
    convolutions, forward and backward, as torch's FLOP counter counts them)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def rate(flops: int, seconds: float, peak: float) -> dict[str, float]:
    """GFLOP, GFLOP/s and the fraction of the measured peak."""
    return {"gflop": round(flops / 1e9, 3), "gflop_per_s": round(flops / seconds / 1e9, 2),
            "fraction_of_peak": round(flops / seconds / peak, 3)}


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        # Training keeps torch's default, TF32 convolutions: a float32 step timed here is slower.
        return (f"{torch.cuda.get_device_name(device)}, TF32 off for matmuls and cuDNN (float32 "
                "throughout; hyperzoo train leaves cuDNN's TF32 on, as torch does)")
    return f"cpu, {torch.get_num_threads()} threads"


# Environment variables that change a benchmark's speed: each JSON's allocator field names the
# ones set (an OMP_WAIT_POLICY=PASSIVE run was known by its file name alone).
SPEED_ENVIRONMENT = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "OMP_PLACES", "MKL_NUM_THREADS",
                     "KMP_BLOCKTIME", "KMP_AFFINITY", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_",
                     "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")


def allocator(choice: str) -> str:
    """Apply the ``hyperzoo`` command's allocator setting (``tuned``) or leave glibc's default, so a
    benchmark measures what users of the command get; returns what is in effect, for the JSON,
    with the `SPEED_ENVIRONMENT` variables that are set. (mallopt affects the allocations after
    it: call before the workload allocates.)"""
    if choice == "tuned" and tune_allocator():
        what = "tuned: glibc mmap/trim thresholds raised as the hyperzoo command does (hyperzoo.runtime)"
    else:
        what = "glibc default" if choice == "default" else "glibc default (mallopt not applied here)"
    env = [f"{k}={os.environ[k]}" for k in SPEED_ENVIRONMENT if k in os.environ]
    return what + (f"; environment: {', '.join(env)}" if env else "")


def mnist_test_images(data_dir: str | None) -> tuple[torch.Tensor, str]:
    """The 10,000 MNIST test images from ``data_dir`` (a folder holding ``mnist/``), else as many
    random images of their shape (an ensemble's speed does not depend on the pixels); and which,
    for the JSON's ``data`` field."""
    if data_dir:
        return load_dataset("mnist", "test", data_dir).x, "MNIST test set"
    random = torch.rand(10_000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return random, "random images of MNIST's shape"

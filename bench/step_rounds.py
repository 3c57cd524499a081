"""The Deutsch MNIST training step with the `loop` backend (in channels-last layout, TargetNet's
default on CPU), the loop in NCHW layout (`TargetNet.channels_last = False`) and the `vmap` backend,
interleaved in one process: ``--rounds`` rounds, each a fresh matmul peak and the median of
``--steps`` steps per variant, so a machine whose speed drifts (a shared VM) affects all alike.
Prints JSON; not a test. (One backend's breakdown and profile: bench/step_time.py.)

    python bench/step_rounds.py [--rounds 4] [--steps 5] [--threads 2] [--allocator tuned]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics

import torch
from hardware import allocator, count_flops, describe, matmul_peak, median_seconds
from step_time import paper_recipe

# variant -> (backend, channels-last layout)
VARIANTS = {"loop": ("loop", True), "loop_nchw": ("loop", False), "vmap": ("vmap", True)}


def spread(ratios: list[float]) -> dict:
    """Per-round ratios, their mean and standard deviation (None for one round)."""
    return {"per_round": [round(r, 3) for r in ratios], "mean": round(statistics.mean(ratios), 3),
            "std": round(statistics.stdev(ratios), 3) if len(ratios) > 1 else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--allocator", default="tuned", choices=["tuned", "default"])
    args = parser.parse_args()
    memory = allocator(args.allocator)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 32, 1, 28, 28, generator=gen), torch.randint(10, (32, 32), generator=gen)
    target, _, _, _, one_step = paper_recipe("loop", x, y)
    flops = count_flops(one_step)  # on the loop: the counter miscounts the vmap step
    rounds = []
    for _ in range(args.rounds):
        peak = matmul_peak(torch.device("cpu"))
        row: dict = {"matmul_peak_gflop_per_s": round(peak / 1e9, 1)}
        for variant, (backend, channels_last) in VARIANTS.items():
            target.backend, target.channels_last = backend, channels_last
            seconds = median_seconds(one_step, torch.device("cpu"), args.steps)
            row[variant] = {"step_seconds": round(seconds, 4),
                            "fraction_of_peak": round(flops / seconds / peak, 3)}
        rounds.append(row)
    ratios = [r["loop"]["step_seconds"] / r["vmap"]["step_seconds"] for r in rounds]
    nchw = [r["loop_nchw"]["step_seconds"] / r["loop"]["step_seconds"] for r in rounds]
    print(json.dumps({
        "device": describe(torch.device("cpu")), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(), "allocator": memory,
        "recipe": "Deutsch MNIST, 32 noise vectors x 32 images, random images",
        "step_gflop": round(flops / 1e9, 3), "rounds": rounds,
        "loop_over_vmap_seconds": spread(ratios),
        "loop_nchw_over_loop_seconds": spread(nchw),
    }, indent=2))


if __name__ == "__main__":
    main()

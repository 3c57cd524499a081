"""The Deutsch MNIST training step under each way TargetNet can run its networks on a CPU,
interleaved in one process: ``threads`` (whole networks per thread, the CPU default), ``loop``
(one network at a time, every thread on each operator), both in channels-last layout; the loop in
NCHW layout (`TargetNet.channels_last = False`); the `vmap` backend; and the loop on the same
network with each activation before its max-pool instead of after (the built-in targets pool
first: the same function; `hyperzoo.targets.zoo.pool_then`); and threads and the loop with the
networks' backward at the end of the step, not each right after its forward
(`TargetNet.backward_with_forward = False`; ``*_backward_at_end``). ``--variants`` picks some
(all by default). ``--rounds`` rounds,
each a fresh matmul peak (a median) and ceiling (the fastest of three sizes) and the median of
``--steps`` steps per variant, in an order rotated each round, so a machine whose speed drifts
(a shared VM) affects all alike. ``fraction_of_round_ceiling`` (the headline) divides each round
by the larger of its median and its ceiling (`hardware.round_peak`), ``fraction_of_peak`` by its
median alone, which read low in some rounds and flattered them, ``fraction_of_run_ceiling`` by
the fastest matmul of the whole run. Prints JSON; not a test. (One backend's breakdown and
profile: bench/step_time.py.)

    python bench/step_rounds.py [--rounds 4] [--steps 5] [--threads 2] [--allocator tuned]
                                [--variants threads,loop,...]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from hardware import (
    allocator,
    count_flops,
    describe,
    machine,
    matmul_ceiling,
    matmul_peak,
    median_seconds,
    rotated,
    round_peak,
)
from step_time import paper_recipe, random_batch
from torch import nn

from hyperzoo.targets import DeutschMNIST

# variant -> (backend, channels-last layout, activation before pooling, each network's backward
# with its forward)
VARIANTS = {"threads": ("threads", True, False, True), "loop": ("loop", True, False, True),
            "loop_nchw": ("loop", False, False, True), "vmap": ("vmap", True, False, True),
            "loop_activation_then_pool": ("loop", True, True, True),
            "threads_backward_at_end": ("threads", True, False, False),
            "loop_backward_at_end": ("loop", True, False, False)}
# variant / other variant: the step-time ratios the summary reports
RATIOS = (("loop", "threads"), ("vmap", "threads"), ("loop_nchw", "loop"), ("vmap", "loop"),
          ("loop_activation_then_pool", "loop"), ("threads_backward_at_end", "threads"),
          ("loop_backward_at_end", "loop"))


def activation_then_pool(net: nn.Sequential) -> nn.Sequential:
    """``net`` with each max-pool that precedes an activation swapped behind it, as the seeds
    draw their networks (the built-in targets pool first, `pool_then`)."""
    layers = list(net)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], (nn.ReLU, nn.LeakyReLU)):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


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
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated, of: " + ", ".join(VARIANTS))
    args = parser.parse_args()
    chosen = args.variants.split(",")
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; expected some of {', '.join(VARIANTS)}")
    memory = allocator(args.allocator)
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = random_batch()
    recipes = {order: paper_recipe("loop", x, y, activation_then_pool(DeutschMNIST()) if order else None)
               for order in (False, True)}
    flops = count_flops(recipes[False][-1])  # on the loop: the counter miscounts the vmap step
    rounds = []
    for i in range(args.rounds):
        peak = matmul_peak(torch.device("cpu"))
        ceiling = matmul_ceiling(torch.device("cpu"))
        variants = rotated([(v, VARIANTS[v]) for v in chosen], i)
        row: dict = {"matmul_peak_gflop_per_s": round(peak / 1e9, 1),
                     "matmul_ceiling_gflop_per_s": round(ceiling / 1e9, 1), "order": [v for v, _ in variants]}
        for variant, (backend, channels_last, order, with_forward) in variants:
            target, *_, one_step = recipes[order]
            target.backend, target.channels_last = backend, channels_last
            target.backward_with_forward = with_forward
            seconds = median_seconds(one_step, torch.device("cpu"), args.steps)
            row[variant] = {"step_seconds": round(seconds, 4),
                            "fraction_of_peak": round(flops / seconds / peak, 3)}
        rounds.append(row)
    # Against the fastest matmul of the whole run: a bound no round's drift can flatter.
    top = max(r["matmul_ceiling_gflop_per_s"] for r in rounds) * 1e9
    print(json.dumps({
        "device": describe(torch.device("cpu")), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": machine(), "allocator": memory,
        "recipe": "Deutsch MNIST, 32 noise vectors x 32 images, random images",
        "step_gflop": round(flops / 1e9, 3), "rounds": rounds,
        "fraction_of_peak": {v: spread([r[v]["fraction_of_peak"] for r in rounds]) for v in chosen},
        # Each round against the larger of its median matmul and its ceiling: the headline.
        "fraction_of_round_ceiling": {v: spread([flops / r[v]["step_seconds"] / round_peak(r) / 1e9
                                                 for r in rounds]) for v in chosen},
        "run_ceiling_gflop_per_s": round(top / 1e9, 1),
        "fraction_of_run_ceiling": {v: spread([flops / r[v]["step_seconds"] / top for r in rounds])
                                    for v in chosen},
        **{f"{a}_over_{b}_seconds": spread([r[a]["step_seconds"] / r[b]["step_seconds"] for r in rounds])
           for a, b in RATIOS if a in chosen and b in chosen},
    }, indent=2))


if __name__ == "__main__":
    main()

"""What each convolution of the Deutsch MNIST target costs, measured without the profiler: the
target-only forward and backward of 32 networks x 32 images (`step_time.py`'s floor; with
``--inference``, 4 networks' forward on 1,024 shared images without autograd, a call of
`hyperzoo.evaluation.predict`) with one 5 x 5 convolution swapped for a 1 x 1 one of the same
input and output shape, interleaved with the unchanged pass over ``--rounds`` rounds. The time
saved is the cost of the arithmetic the swap removed (24 of every 25 multiply-adds), so saved
FLOPs / saved seconds is the rate that arithmetic ran at in place. (torch.profiler slows the
short operators it watches: its per-operator times, step_time.py --profile, overstate them.)
Prints JSON; not a test.

    python bench/conv_ablation.py [--rounds 6] [--steps 5] [--backends threads,loop] [--inference]
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from hardware import allocator, count_flops, describe, machine, matmul_peak, median_seconds, rotated
from step_rounds import spread
from step_time import random_batch
from torch import nn

from hyperzoo.targets import DeutschMNIST, TargetNet


def random_weights(target: TargetNet, networks: int) -> dict[str, torch.Tensor]:
    """``networks`` networks of ``target`` with weights N(0, 0.1²), the same on every call."""
    gen = torch.Generator().manual_seed(0)
    return {k: 0.1 * torch.randn(networks, *s, generator=gen) for k, s in target.param_shapes.items()}


def floor_pass(module: nn.Module, backend: str, x: torch.Tensor, y: torch.Tensor):
    """The target-only forward and backward of ``module`` with random weights as leaves, as the
    trainer takes them (`TargetNet.cross_entropy`: on the loop and threads each network's
    backward right after its forward). The JSONs of 2026-12-05 and before took every backward at
    the end of the step (``F.cross_entropy`` of the outputs), as training then did."""
    target = TargetNet(module, (1, 28, 28), backend=backend)
    weights = {k: w.requires_grad_() for k, w in random_weights(target, x.shape[0]).items()}

    def run() -> None:
        target.cross_entropy(weights, x, y)[1].backward()
    return run


def inference_pass(module: nn.Module, backend: str, x: torch.Tensor, networks: int = 4):
    """``networks`` networks of ``module`` with random weights on the shared images ``x``, in eval
    mode without autograd."""
    target = TargetNet(module.eval(), (1, 28, 28), backend=backend)
    weights = random_weights(target, networks)

    def run() -> None:
        with torch.no_grad():
            target(weights, x)
    return run


def swapped(*indices: int) -> nn.Module:
    """DeutschMNIST with its convolutions ``indices`` as 1 x 1 convolutions (same output shapes)."""
    net = DeutschMNIST()
    for index in indices:
        conv = net[index]
        net[index] = nn.Conv2d(conv.in_channels, conv.out_channels, 1)
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--backends", default="threads,loop")
    parser.add_argument("--inference", action="store_true",
                        help="4 networks' forward on 1,024 images without autograd, not the training pass")
    args = parser.parse_args()
    memory = allocator("tuned")
    cpu = torch.device("cpu")
    if args.inference:
        x = torch.rand(1024, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        recipe = "Deutsch MNIST target only, 4 networks x 1,024 shared random images, forward, no autograd"

        def make(module: nn.Module, backend: str):
            return inference_pass(module, backend, x)
    else:
        x, y = random_batch()
        recipe = "Deutsch MNIST target only, 32 networks x 32 random images, forward + backward"

        def make(module: nn.Module, backend: str):
            return floor_pass(module, backend, x, y)
    convs = [i for i, m in enumerate(DeutschMNIST()) if isinstance(m, nn.Conv2d)]
    # Both at once too: what remains of the pass without the convolutions' arithmetic, measured
    # (the 2026-12-05 run inferred it from the two single swaps).
    variants = {"unchanged": DeutschMNIST(), **{f"layer_{i}_as_1x1": swapped(i) for i in convs},
                "all_convolutions_as_1x1": swapped(*convs)}
    flops = {name: count_flops(make(module, "loop")) for name, module in variants.items()}
    result: dict = {"device": describe(cpu), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "machine": machine(), "allocator": memory, "recipe": recipe,
                    "gflop": {k: round(v / 1e9, 3) for k, v in flops.items()}, "backends": {}}
    for backend in args.backends.split(","):
        passes = {name: make(module, backend) for name, module in variants.items()}
        rounds = []
        for i in range(args.rounds):
            order = rotated(list(passes.items()), i)
            row = {"matmul_peak_gflop_per_s": round(matmul_peak(cpu) / 1e9, 1),
                   "order": [n for n, _ in order]}
            row.update({name: round(median_seconds(fn, cpu, args.steps), 4) for name, fn in order})
            rounds.append(row)
        summary: dict = {"rounds": rounds, "unchanged_seconds": spread([r["unchanged"] for r in rounds])}
        for name in variants:
            if name == "unchanged":
                continue
            saved = [r["unchanged"] - r[name] for r in rounds]
            saved_gflop = (flops["unchanged"] - flops[name]) / 1e9
            summary[name] = {
                "seconds": spread([r[name] for r in rounds]), "saved_seconds": spread(saved),
                "saved_gflop": round(saved_gflop, 3),
                "gflop_per_s_of_the_saved_arithmetic": round(saved_gflop / statistics.mean(saved), 1),
                "fraction_of_peak": round(saved_gflop / statistics.mean(saved) / statistics.mean(
                    [r["matmul_peak_gflop_per_s"] for r in rounds]), 3)}
        result["backends"][backend] = summary
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

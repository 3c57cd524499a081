"""``train.compile: true`` against eager on the Deutsch MNIST training step, as the trainer runs
it: ``torch.compile(method.training_loss)``, then the backward and Adam's step. Reports the first
(compiling) call's seconds and, over ``--rounds`` interleaved rounds, the median of ``--steps``
steps of each. Prints JSON; not a test.

    python bench/compile_step.py [--rounds 4] [--steps 5] [--backend loop] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from hardware import allocator, count_flops, describe, machine, matmul_peak, median_seconds, rotated, sync
from step_rounds import spread
from step_time import paper_recipe, random_batch

from hyperzoo.devices import resolve_device


def recipe(backend: str, x: torch.Tensor, y: torch.Tensor, compiled: bool):
    """The recipe's training step through ``method.training_loss``, compiled or not."""
    _, method, opt, g, _ = paper_recipe(backend, x, y)
    loss_of = torch.compile(method.training_loss) if compiled else method.training_loss
    step = iter(range(10**9))  # a new step each call, as the trainer passes (dynamo guards on it)

    def one_step() -> None:
        out = loss_of(x, y, next(step), generator=g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    return one_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--backend", default="loop", help="threads run on workers dynamo cannot trace")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args()
    memory = allocator("tuned")
    device = resolve_device(args.device)
    x, y = random_batch(device)
    flops = count_flops(recipe("loop", x, y, compiled=False))
    steps, first = {}, {}
    for name, compiled in (("eager", False), ("compiled", True)):
        steps[name] = recipe(args.backend, x, y, compiled)
        sync(device)
        start = time.perf_counter()
        steps[name]()
        sync(device)
        first[name] = round(time.perf_counter() - start, 2)
    rounds = []
    for i in range(args.rounds):
        peak = matmul_peak(device)
        order = rotated(list(steps.items()), i)
        row: dict = {"matmul_peak_gflop_per_s": round(peak / 1e9, 1), "order": [n for n, _ in order]}
        for name, fn in order:
            seconds = median_seconds(fn, device, args.steps)
            row[name] = {"step_seconds": round(seconds, 4),
                         "fraction_of_peak": round(flops / seconds / peak, 3)}
        rounds.append(row)
    print(json.dumps({
        "device": describe(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": machine(device), "allocator": memory, "backend": args.backend,
        "recipe": "Deutsch MNIST, 32 noise vectors x 32 images, random images, through training_loss",
        "step_gflop": round(flops / 1e9, 3), "first_call_seconds": first, "rounds": rounds,
        "fraction_of_peak": {n: spread([r[n]["fraction_of_peak"] for r in rounds]) for n in steps},
        "dynamo_stats": {k: int(v) for k, v in torch._dynamo.utils.counters["stats"].items()},
        "compiled_over_eager_seconds": spread([r["compiled"]["step_seconds"] / r["eager"]["step_seconds"]
                                               for r in rounds]),
    }, indent=2))


if __name__ == "__main__":
    main()

"""Seconds per training step of configs, on random inputs of the target's shape (no data set
needed; a step's cost does not depend on the pixels). Prints JSON; not a test.

    OMP_NUM_THREADS=1 python bench/baseline_step_time.py experiments/mnf_mnist_cpu.yaml [...] [--steps 20]
    python bench/baseline_step_time.py CONFIGS... --threads 2 --backends threads,loop --rounds 3

With several ``--backends`` (TargetNet backends, in place of each config's ``target.backend``)
they alternate per config over ``--rounds`` rounds, in turn first and last, and each gets the
median of its rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from hardware import allocator

from hyperzoo.config import load_config
from hyperzoo.methods import build_method, resolve_noise_batch
from hyperzoo.targets import TargetNet, build_target
from hyperzoo.train import step_optimizers


def seconds_per_step(path: str, steps: int, backend: str | None = None) -> float:
    config = load_config(path)
    if backend:
        config.target.backend = backend
    torch.manual_seed(0)
    module = build_target(config.target.name, config.target.kwargs)
    target = TargetNet(module, module.input_shape, backend=config.target.backend)  # type: ignore[arg-type]
    method = build_method(target, config.method, dataset_size=60000)
    optimizers = {g: torch.optim.Adam(p, lr=config.train.lr) for g, p in method.optimizer_groups().items()}
    n, m = resolve_noise_batch(config), config.train.images_per_noise
    x = torch.rand(n, m, *module.input_shape)
    y = torch.randint(10, (n, m))
    gen = torch.Generator().manual_seed(0)
    # Past any pre-training phase (HyperGAN's), as most of a run is.
    start_step = int(config.method.get("pretrain_steps", 0) or 0)
    step_optimizers(method, optimizers, method.training_loss(x, y, start_step, gen))  # warm-up
    start = time.perf_counter()
    for i in range(steps):
        step_optimizers(method, optimizers, method.training_loss(x, y, start_step + i, gen))
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backends", default=None, help="e.g. threads,loop (default: each config's)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--allocator", default="default", choices=["tuned", "default"],
                        help="glibc's default (as before 2026-12-05) or the hyperzoo command's setting")
    args = parser.parse_args()
    memory = allocator(args.allocator)
    torch.set_num_threads(args.threads)
    backends = args.backends.split(",") if args.backends else [""]  # "": each config's own
    times: dict[str, dict[str, list[float]]] = {p: {b: [] for b in backends} for p in args.configs}
    for r in range(args.rounds):
        for path in args.configs:
            # The order alternates between rounds: whichever backend ran second was up to 10%
            # faster in a fixed order (2026-12-05), whichever it was.
            for b in backends if r % 2 == 0 else backends[::-1]:
                times[path][b].append(seconds_per_step(path, args.steps, b or None))
    median = {p: {b: round(statistics.median(v), 3) for b, v in per.items()} for p, per in times.items()}
    report = {"threads": args.threads, "steps": args.steps, "rounds": args.rounds, "allocator": memory,
              "seconds_per_step": {p: per if args.backends else per[""] for p, per in median.items()}}
    if len(backends) == 2 and args.rounds > 1:  # the first backend's time over the second's, per round
        first, second = backends
        ratios = {p: [a / b for a, b in zip(per[first], per[second], strict=True)]
                  for p, per in times.items()}
        report[f"{first}_over_{second}_seconds"] = {
            p: {"per_round": [round(r, 3) for r in rs], "mean": round(statistics.mean(rs), 3),
                "std": round(statistics.stdev(rs), 3)} for p, rs in ratios.items()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

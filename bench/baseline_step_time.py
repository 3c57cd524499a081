"""Seconds per training step of configs, on random inputs of the target's shape (no data set
needed; a step's cost does not depend on the pixels). Prints JSON; not a test.

    OMP_NUM_THREADS=1 python bench/baseline_step_time.py experiments/mnf_mnist_cpu.yaml [...] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from hyperzoo.config import load_config
from hyperzoo.methods import build_method
from hyperzoo.targets import TargetNet, build_target
from hyperzoo.train import step_optimizers


def seconds_per_step(path: str, steps: int) -> float:
    config = load_config(path)
    torch.manual_seed(0)
    module = build_target(config.target.name, config.target.kwargs)
    target = TargetNet(module, module.input_shape, backend=config.target.backend)  # type: ignore[arg-type]
    method = build_method(target, config.method, dataset_size=60000)
    optimizers = {g: torch.optim.Adam(p, lr=config.train.lr) for g, p in method.optimizer_groups().items()}
    n, m = config.train.noise_batch, config.train.images_per_noise
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps({"threads": args.threads, "steps": args.steps,
                      "seconds_per_step": {p: round(seconds_per_step(p, args.steps), 3)
                                           for p in args.configs}}, indent=1))


if __name__ == "__main__":
    main()

"""The trainer's bookkeeping around the networks, as it was and as it is (2026-12-06): Adam
per tensor with a 1-norm finiteness check (``before``) against fused Adam with a 2-norm check
(``now``), on each recipe's step as the trainer runs it (`training_batch`, the method's loss,
`step_optimizers` without a host sync), the two in an order alternated each round so a machine
whose speed drifts affects both alike. Each round measures its own matmul peak and ceiling;
fractions are of the larger (`hardware.round_peak`). Prints JSON; not a test.

    python bench/bookkeeping.py --data-dir ../shared/data [--rounds 4] [--steps 5] [--threads 2]
        [--configs experiments/hypergan_mnist_cpu.yaml,experiments/deutsch_mnist_cpu.yaml]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import subprocess
from pathlib import Path

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
from step_rounds import spread  # per-round values, their mean and std

import hyperzoo.train as trainer
from hyperzoo.config import load_config
from hyperzoo.optimizers import make_optimizers
from hyperzoo.session import build_session

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("experiments/hypergan_mnist_cpu.yaml", "experiments/deutsch_mnist_cpu.yaml")


def finite_by_l1(tensors: list[torch.Tensor], device: torch.device, nonnegative: bool = False
                 ) -> torch.Tensor:
    """The check as it was: one multi-tensor 1-norm per list (the second moments too)."""
    if not tensors:
        return torch.ones((), dtype=torch.bool, device=device)
    return torch.stack(torch._foreach_norm(tensors, 1)).isfinite().all()


def recipe_steps(path: str, data_dir: str) -> tuple[dict, int, int]:
    """``{variant: one_step}`` for the config at ``path`` (each variant its own copy of the method
    and optimizers, from the same start), the method's parameter count, and its step's FLOPs."""
    config = load_config(ROOT / path, [f"data.data_dir={data_dir}"])
    torch.manual_seed(0)
    session = build_session(config)
    t = config.train
    steps = {}
    for variant, fused in (("before", False), ("now", True)):
        method = copy.deepcopy(session.method).train()
        optimizers = make_optimizers(method, t.optimizer, t.lr, t.momentum, fused=fused)
        gens = {"noise": torch.Generator().manual_seed(1), "data": torch.Generator().manual_seed(2)}
        counter = iter(range(10**9))

        def one_step(method=method, optimizers=optimizers, gens=gens, counter=counter, variant=variant):
            step = next(counter) + 10**6  # past any pre-training or warm-up
            batch = trainer.training_batch(session.train_data, t.noise_batch, t.images_per_noise, config,
                                           gens["data"], slice(None), torch.device("cpu"), method.probe_size)
            out = trainer.batch_loss(method.training_loss, batch, step, gens["noise"])
            kept = trainer._finite
            if variant == "before":
                trainer._finite = finite_by_l1
            try:
                trainer.step_optimizers(method, optimizers, out, None, sync=False)
            finally:
                trainer._finite = kept

        steps[variant] = one_step
    params = sum(p.numel() for p in session.method.parameters())
    return steps, params, count_flops(steps["before"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True, help="folder with mnist/")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    memory = allocator("tuned")
    if args.threads:
        torch.set_num_threads(args.threads)
    recipes = {path: recipe_steps(path, args.data_dir) for path in args.configs.split(",")}
    rounds = []
    for i in range(args.rounds):
        row: dict = {"matmul_peak_gflop_per_s": round(matmul_peak(torch.device("cpu")) / 1e9, 1),
                     "matmul_ceiling_gflop_per_s": round(matmul_ceiling(torch.device("cpu")) / 1e9, 1)}
        for path, (steps, _, flops) in recipes.items():
            row[path] = {}
            for variant, one_step in rotated(list(steps.items()), i):
                seconds = median_seconds(one_step, torch.device("cpu"), args.steps)
                row[path][variant] = {"step_seconds": round(seconds, 4),
                                      "fraction_of_peak": round(flops / seconds / round_peak(row) / 1e9, 3)}
            row[path]["order"] = [v for v, _ in rotated(list(steps.items()), i)]
        rounds.append(row)

    def summary(path: str, params: int, flops: int) -> dict:
        ratio = [r[path]["now"]["step_seconds"] / r[path]["before"]["step_seconds"] for r in rounds]
        return {"parameters": params, "step_gflop": round(flops / 1e9, 3),
                "now_over_before_seconds": spread(ratio),
                "fraction_of_round_peak": {v: spread([r[path][v]["fraction_of_peak"] for r in rounds])
                                           for v in ("before", "now")}}

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    print(json.dumps({
        "commit": head or None, "date": datetime.date.today().isoformat(),
        "device": describe(torch.device("cpu")), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": machine(), "allocator": memory,
        "steps_per_median": args.steps,
        "variants": {"before": "per-tensor Adam, 1-norm finiteness check (to 2026-12-06)",
                     "now": "fused Adam (train.fused), 2-norm finiteness check (Adam's second moments "
                            "on their largest entry)"},
        "recipes": {path: summary(path, params, flops) for path, (_, params, flops) in recipes.items()},
        "rounds": rounds,
    }, indent=2))


if __name__ == "__main__":
    main()

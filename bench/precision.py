"""The Deutsch MNIST training step in float32 and with ``train.precision: bf16`` (the target
networks under bfloat16 autocast, `TargetNet.lower_precision`; the hypernetwork, gauge fixing
and entropy stay float32), interleaved in one process on ``--backends``. ``--rounds`` rounds,
each with fresh float32 and bfloat16 matmul peaks (the larger of a median and a ceiling,
`hardware.round_peak`) and the median of ``--steps`` steps per variant, so a machine whose speed
drifts affects all alike. Prints JSON; not a test.

    python bench/precision.py [--rounds 8] [--steps 5] [--backends threads,loop] [--device auto]

bfloat16 pays where the hardware has it (AMX or AVX512-BF16 on a CPU, tensor cores on a GPU);
elsewhere it is emulated and slower.
"""

from __future__ import annotations

import argparse
import json

import torch
from hardware import (
    allocator,
    count_flops,
    describe,
    machine,
    matmul_ceiling,
    matmul_peak,
    median_seconds,
    round_peak,
)
from step_rounds import spread
from step_time import paper_recipe, random_batch

from hyperzoo.devices import resolve_device

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--backends", default="threads,loop")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--allocator", default="tuned", choices=["tuned", "default"])
    args = parser.parse_args()
    memory = allocator(args.allocator)
    device = resolve_device(args.device)
    x, y = random_batch(device)
    backends = args.backends.split(",")
    recipes = {b: paper_recipe(b, x, y) for b in backends}
    *_, loop_step = paper_recipe("loop", x, y)
    flops = count_flops(loop_step)  # float32 on the loop: the same arithmetic in either precision

    def step(backend: str, dtype: torch.dtype | None):
        target, *_, one_step = recipes[backend]

        def run() -> None:
            with target.lower_precision(dtype):  # as train.py does around the training loss
                one_step()
        return run

    rounds = []
    for i in range(args.rounds):
        row: dict = {}
        peaks = {}
        for p, d in PRECISIONS.items():
            # A median alone read low in some rounds, flattering every fraction in them.
            kind = d or torch.float32
            measured = {"matmul_peak_gflop_per_s": round(matmul_peak(device, dtype=kind) / 1e9, 1),
                        "matmul_ceiling_gflop_per_s": round(matmul_ceiling(device, dtype=kind) / 1e9, 1)}
            row.update({k.replace("_gflop", f"_{p}_gflop"): v for k, v in measured.items()})
            peaks[p] = round_peak(measured) * 1e9
        # The order alternates between rounds: whichever ran right after the (AMX) peak matmuls
        # could meet another clock speed.
        order = list(PRECISIONS.items())[:: 1 if i % 2 == 0 else -1]
        for backend in backends:
            for p, dtype in order:
                seconds = median_seconds(step(backend, dtype), device, args.steps)
                row[f"{backend}_{p}"] = {
                    "step_seconds": round(seconds, 4),
                    "fraction_of_fp32_peak": round(flops / seconds / peaks["fp32"], 3),
                    "fraction_of_bf16_peak": round(flops / seconds / peaks["bf16"], 3)}
        rounds.append(row)
    variants = [f"{b}_{p}" for b in backends for p in PRECISIONS]

    def over(a, b) -> dict:  # per-round ratio of two numbers of a round
        return spread([a(r) / b(r) for r in rounds])

    print(json.dumps({
        "device": describe(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": machine(device), "allocator": memory,
        "recipe": "Deutsch MNIST, 32 noise vectors x 32 images, random images",
        "step_gflop": round(flops / 1e9, 3), "rounds": rounds,
        **{f"fraction_of_{p}_peak": {v: spread([r[v][f"fraction_of_{p}_peak"] for r in rounds])
                                     for v in variants} for p in PRECISIONS},
        # The denominators the fractions use: each round's larger of median and ceiling.
        "bf16_peak_over_fp32_peak": over(lambda r: max(r["matmul_peak_bf16_gflop_per_s"],
                                                       r["matmul_ceiling_bf16_gflop_per_s"]),
                                         lambda r: max(r["matmul_peak_fp32_gflop_per_s"],
                                                       r["matmul_ceiling_fp32_gflop_per_s"])),
        **{f"{b}_fp32_over_bf16_seconds": over(lambda r, b=b: r[f"{b}_fp32"]["step_seconds"],
                                               lambda r, b=b: r[f"{b}_bf16"]["step_seconds"])
           for b in backends},
    }, indent=2))


if __name__ == "__main__":
    main()

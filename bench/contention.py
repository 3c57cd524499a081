"""Where the `threads` training step's share of the peak goes: each worker thread runs whole
networks with one intra-op thread, so the step is bounded by (a) how well one network's forward
and backward uses one core, and (b) what two such workers cost each other when they run at once
(shared caches and memory bandwidth). This measures both on the Deutsch MNIST target, without
the profiler, over interleaved rounds: the target-only pass (forward and backward, 16 networks x
32 images, the `loop` backend on one thread, as a worker runs it) alone on one worker and on two
workers at once (each its own 16 networks), and a one-thread float32 matmul the same two ways.
Prints JSON; not a test.

    python bench/contention.py [--rounds 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from conv_ablation import floor_pass
from hardware import allocator, count_flops, machine, matmul_peak, median_seconds, rotated
from step_rounds import spread
from step_time import random_batch

from hyperzoo.targets import DeutschMNIST
from hyperzoo.targets.threads import workers

MATMUL_SIZE = 2048  # as `hardware.matmul_peak` on the CPU


def at_once(pool: ThreadPoolExecutor, jobs: list[Callable[[], object]]) -> Callable[[], object]:
    """A call that runs ``jobs`` at once, one per worker, and waits for all."""
    return lambda: list(pool.map(lambda job: job(), jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    alloc = allocator("tuned")
    torch.set_num_threads(2)
    cpu = torch.device("cpu")
    x, y = random_batch()
    passes = [floor_pass(DeutschMNIST(), "loop", x[half], y[half]) for half in (slice(0, 16), slice(16, 32))]
    flops = count_flops(passes[0])
    mats = [(torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)) for _ in range(2)]
    products = [lambda a=a, b=b: a @ b for a, b in mats]
    pool = workers()  # `threads`' own two workers, one intra-op thread each
    for jobs in (passes, products):  # warm both workers up
        at_once(pool, jobs)()
    rounds = []
    measured = {"net_alone": passes[:1], "net_together": passes, "mm_alone": products[:1],
                "mm_together": products}
    for i in range(args.rounds):
        # Balanced order (hardware.rotated): in a fixed one, each measurement always followed the
        # same other (a review, 2026-12-06).
        order = rotated(list(measured.items()), i)
        seconds = {name: median_seconds(at_once(pool, jobs), cpu, args.repeats, warmup=False)
                   for name, jobs in order}
        net_alone, net_together, mm_alone, mm_together = (seconds[k] for k in measured)
        one_thread_peak = 2 * MATMUL_SIZE ** 3 / mm_alone
        peak = matmul_peak(cpu)  # both threads on one matmul: the benchmarks' peak
        rounds.append({
            "order": [name for name, _ in order],
            "one_thread_matmul_gflop_per_s": round(one_thread_peak / 1e9, 1),
            "two_thread_matmul_peak_gflop_per_s": round(peak / 1e9, 1),
            "networks_alone_seconds": round(net_alone, 4),
            "networks_together_seconds": round(net_together, 4),
            "networks_alone_fraction_of_one_thread_peak": round(flops / net_alone / one_thread_peak, 3),
            # One worker against one core's share of the peak; two workers against the peak.
            "networks_alone_fraction_of_half_peak": round(flops / net_alone / (peak / 2), 3),
            "networks_together_fraction_of_peak": round(2 * flops / net_together / peak, 3),
            "networks_together_over_alone": round(net_together / net_alone, 3),
            "matmul_together_over_alone": round(mm_together / mm_alone, 3),
        })
    keys = ["networks_alone_fraction_of_one_thread_peak", "networks_alone_fraction_of_half_peak",
            "networks_together_fraction_of_peak", "networks_together_over_alone",
            "matmul_together_over_alone"]
    print(json.dumps({
        "device": "cpu", "torch": torch.__version__, "machine": machine(cpu),
        "allocator": alloc,
        "pass": "Deutsch MNIST target only, forward and backward, 16 networks x 32 random images "
                "per worker, loop backend, one intra-op thread per worker",
        "gflop_per_worker_pass": round(flops / 1e9, 3),
        "repeats": args.repeats, "rounds": rounds,
        **{k: spread([r[k] for r in rounds]) for k in keys},
    }, indent=1))


if __name__ == "__main__":
    main()

"""Inference with `hyperzoo.targets.pooling` (2×2 max pooling without PyTorch's index tensor)
against PyTorch's own pooling, in short paired trials. Prints JSON; not a test.

    python bench/pooling.py [--data-dir ../shared/data] [--networks 10] [--images 2560] [--pairs 20]

A whole-ensemble benchmark (bench/inference.py) times each variant once per round, half a minute
apart, and the machine's speed drifts by more than the effect between them. Here each pair
runs `predict_proba` of the same sampled Deutsch MNIST networks on the same images both ways,
back to back (the order alternating between pairs), with the pair's ratio as the measure:
``native_over_index_free`` per pair, its mean, spread and range. Each way's rate is against
the ceiling of matmuls measured before and after the trials (`hardware.round_peak`).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from hardware import (
    allocator,
    count_flops,
    describe,
    machine,
    matmul_ceiling,
    matmul_peak,
    mnist_test_images,
    round_peak,
)
from step_rounds import spread

from hyperzoo.evaluation import predict_proba
from hyperzoo.methods import build_method
from hyperzoo.targets import DeutschMNIST, TargetNet


def peaks(cpu: torch.device) -> dict[str, float]:
    return {"matmul_peak_gflop_per_s": round(matmul_peak(cpu) / 1e9, 1),
            "matmul_ceiling_gflop_per_s": round(matmul_ceiling(cpu) / 1e9, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (else random images)")
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    memory = allocator("tuned")
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    x, data = mnist_test_images(args.data_dir)
    x = x[:args.images]
    torch.manual_seed(0)
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    method = build_method(target, {"name": "deutsch"}).eval()
    with torch.no_grad():
        weights = method.sample(args.networks, generator=torch.Generator().manual_seed(0))
        flops = args.networks * count_flops(lambda: DeutschMNIST().eval()(x))

    def run(index_free: bool) -> tuple[float, torch.Tensor]:
        target.index_free_pooling = index_free
        start = time.perf_counter()
        out = predict_proba(target, weights, x)
        return time.perf_counter() - start, out

    outputs = {way: run(way)[1] for way in (True, False)}  # warm-up, and the numbers compared
    before = peaks(cpu)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for i in range(args.pairs):
        for way in (True, False) if i % 2 == 0 else (False, True):
            seconds[way].append(run(way)[0])
    after = peaks(cpu)
    peak = max(round_peak(before), round_peak(after)) * 1e9
    ratios = [n / f for n, f in zip(seconds[False], seconds[True], strict=True)]
    print(json.dumps({
        "device": describe(cpu), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": machine(), "allocator": memory,
        "data": data,
        "networks": args.networks, "images": len(x), "gflop": round(flops / 1e9, 2),
        "same_probabilities": bool(torch.equal(outputs[True], outputs[False])),
        "peaks_before": before, "peaks_after": after, "ceiling_gflop_per_s": round(peak / 1e9, 1),
        "native_over_index_free": {**spread(ratios), "min": round(min(ratios), 3),
                                   "max": round(max(ratios), 3)},
        "index_free_seconds": spread(seconds[True]),
        "native_seconds": spread(seconds[False]),
        "index_free_fraction_of_ceiling": spread([flops / s / peak for s in seconds[True]]),
        "native_fraction_of_ceiling": spread([flops / s / peak for s in seconds[False]]),
    }, indent=2))


if __name__ == "__main__":
    main()

"""The entropy's nearest-neighbour search: the centred float64 Gram product `nearest_neighbours`
uses up to GRAM_MAX_SAMPLES samples against direct differences (its fallback, and the search
before 2026-12-05), on random weights of the Deutsch MNIST step's shape, and each one's error
against float64 direct differences. Prints JSON; not a test.

    python bench/neighbours.py [--samples 32,200] [--dim 20018] [--repeats 20] [--allocator tuned]
"""

from __future__ import annotations

import argparse
import json
import math

import torch
from hardware import allocator, describe, median_seconds

from hyperzoo import diversity


def compare(x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Seconds of each search on ``x`` (N, D) and its largest relative distance error."""
    cpu = torch.device("cpu")
    x64 = x.double()
    ref = torch.cdist(x64, x64, compute_mode="donot_use_mm_for_euclid_dist").fill_diagonal_(math.inf)
    ref_dist = ref.min(dim=1).values
    every = torch.arange(len(x))
    searches = {"gram": lambda: diversity.nearest_neighbours(x)[1],
                "direct": lambda: diversity._direct(x, every, 2.0)[0]}
    out: dict[str, float] = {}
    for name, search in searches.items():
        out[f"{name}_seconds"] = round(median_seconds(search, cpu, repeats), 5)
        out[f"{name}_max_relative_error"] = float(((search().double() - ref_dist) / ref_dist).abs().max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", default="32,200")
    parser.add_argument("--dim", type=int, default=20018)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--allocator", default="tuned", choices=["tuned", "default"])
    args = parser.parse_args()
    memory = allocator(args.allocator)
    gen = torch.Generator().manual_seed(0)
    rows = {f"{n}x{args.dim}": compare(torch.randn(n, args.dim, generator=gen) * 0.05 + 3.0, args.repeats)
            for n in map(int, args.samples.split(","))}
    print(json.dumps({"device": describe(torch.device("cpu")), "threads": torch.get_num_threads(),
                      "allocator": memory, "torch": torch.__version__, "samples": rows}, indent=2))


if __name__ == "__main__":
    main()

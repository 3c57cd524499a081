"""Peak memory of the Deutsch MNIST training step with each network's backward taken with its
forward (`TargetNet.backward_with_forward`, the default) and with every backward at the end of
the step: each variant in a fresh process (the peak resident set size only grows), which
builds the recipe, runs ``--steps`` steps and reports its peak RSS before the first step and
after the last. Prints JSON; not a test.

    python bench/step_memory.py [--backend threads] [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from hardware import machine

CHILD = """
import resource, sys, torch
sys.path.insert(0, {here!r})
from hardware import allocator
allocator("tuned")
torch.set_num_threads({threads})
from step_time import paper_recipe, random_batch
x, y = random_batch()
target, method, opt, g, one_step = paper_recipe({backend!r}, x, y)
target.backward_with_forward = {with_forward}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range({steps}):
    one_step()
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="threads", choices=["threads", "loop"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent)
    out = {}
    for name, with_forward in (("backward_with_forward", True), ("backward_at_end", False)):
        code = CHILD.format(here=here, threads=args.threads, backend=args.backend, with_forward=with_forward,
                            steps=args.steps)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        before, after = (int(v) for v in done.stdout.split()[-2:])  # KiB on Linux
        out[name] = {"peak_rss_mb_before_steps": round(before / 1024, 1),
                     "peak_rss_mb_after_steps": round(after / 1024, 1),
                     "step_peak_rss_growth_mb": round((after - before) / 1024, 1)}
    print(json.dumps({"machine": machine(), "torch": torch.__version__, "threads": args.threads,
                      "backend": args.backend, "steps": args.steps,
                      "recipe": "Deutsch MNIST, 32 noise vectors x 32 images, random images",
                      "allocator": "tuned: glibc mmap/trim thresholds raised as the hyperzoo command does",
                      "rss_unit": "MB (2^20 bytes), ru_maxrss of a fresh process per variant",
                      **out}, indent=2))


if __name__ == "__main__":
    main()

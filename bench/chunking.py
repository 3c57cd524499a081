"""Ensemble inference by images per network call and CPU backend: `predict_proba` itself.

    python bench/chunking.py [--data-dir ../shared/data] [--networks 20] [--chunks 128,256,512,1024]
                             [--backends loop,threads] [--rounds 3]

`hyperzoo.evaluation.predict` calls the target on ``IMAGE_CHUNK`` images per network at a time.
This runs `predict_proba` of sampled Deutsch MNIST networks on the 10,000 test images with each
chunk size (`predict_proba`'s ``image_chunk``) on each CPU backend, in interleaved rounds (the
order reversed every other round) that each measure their own matmul peak, and prints JSON:
``fraction_of_peak`` per round and its mean and spread. It chose ``IMAGE_CHUNK`` and the loop
for inference (TargetNet's "auto" without autograd).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from hardware import allocator, count_flops, describe, machine, matmul_peak, mnist_test_images, rate
from step_rounds import spread

from hyperzoo.evaluation import ensembles, predict_proba
from hyperzoo.methods import build_method
from hyperzoo.targets import DeutschMNIST, TargetNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (else random images)")
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--chunks", default="128,256,512,1024")
    parser.add_argument("--backends", default="loop,threads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    memory = allocator("tuned")
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    x, data = mnist_test_images(args.data_dir)
    torch.manual_seed(0)
    targets = {b: TargetNet(DeutschMNIST(), (1, 28, 28), backend=b) for b in args.backends.split(",")}
    method = build_method(next(iter(targets.values())), {"name": "deutsch"}).eval()
    with torch.no_grad():
        weights = method.sample(args.networks, generator=torch.Generator().manual_seed(0))
        flops = args.networks * count_flops(lambda: DeutschMNIST().eval()(x[:1000])) * len(x) // 1000
    shipped = ensembles.IMAGE_CHUNK
    variants = [(b, int(c)) for b in targets for c in args.chunks.split(",")]

    def run(backend: str, chunk: int) -> torch.Tensor:
        return predict_proba(targets[backend], weights, x, image_chunk=chunk)

    loop = targets.get("loop") or TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    reference = predict_proba(loop, weights, x)  # at the shipped IMAGE_CHUNK
    rounds = []
    for r in range(args.rounds):
        peak = matmul_peak(cpu)
        row: dict[str, object] = {"matmul_peak_gflop_per_s": round(peak / 1e9, 1)}
        for backend, chunk in variants if r % 2 == 0 else variants[::-1]:
            start = time.perf_counter()
            out = run(backend, chunk)
            seconds = time.perf_counter() - start
            torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)
            row[f"{backend}_{chunk}"] = {"seconds": round(seconds, 3), **rate(flops, seconds, peak)}
        rounds.append(row)
    summary = {f"{b}_{c}": spread([row[f"{b}_{c}"]["fraction_of_peak"] for row in rounds])  # type: ignore[index]
               for b, c in variants}
    print(json.dumps({
        "device": describe(cpu), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": machine(), "allocator": memory,
        "data": data,
        "networks": args.networks, "images": len(x), "gflop": round(flops / 1e9, 1),
        "shipped_image_chunk": shipped, "fraction_of_peak": summary, "rounds": rounds,
    }, indent=2))


if __name__ == "__main__":
    main()

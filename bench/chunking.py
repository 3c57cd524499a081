"""Ensemble inference: seconds per network by the number of images per network call.

    python bench/chunking.py [--data-dir ../shared/data] [--networks 2] [--chunks 256,...,10000]

`hyperzoo.evaluation.predict` evaluates ``(networks, images)`` chunks; this times a few networks
of the Deutsch MNIST net on the 10,000 test images for each image-chunk size, next to the
matmul peak measured in the same run, and prints JSON. It chose ``IMAGE_CHUNK``.
"""

from __future__ import annotations

import argparse
import json

import torch
from hardware import allocator, count_flops, describe, machine, matmul_peak, median_seconds, rate

from hyperzoo.data import load_dataset
from hyperzoo.evaluation import predict_proba
from hyperzoo.evaluation.ensembles import IMAGE_CHUNK
from hyperzoo.methods import build_method
from hyperzoo.targets import DeutschMNIST, TargetNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (else random images)")
    parser.add_argument("--networks", type=int, default=2)
    parser.add_argument("--chunks", default="256,512,1024,2048,4096,8192,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    memory = allocator("tuned")
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    x = (load_dataset("mnist", "test", args.data_dir).x if args.data_dir
         else torch.rand(10_000, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    torch.manual_seed(0)
    target = TargetNet(DeutschMNIST(), (1, 28, 28))
    method = build_method(target, {"name": "deutsch"}).eval()
    with torch.no_grad():
        weights = method.sample(args.networks, generator=torch.Generator().manual_seed(0))
        flops = args.networks * count_flops(lambda: DeutschMNIST().eval()(x[:1000])) * len(x) // 1000
    peak = matmul_peak(cpu)
    by_chunk = {}
    for chunk in map(int, args.chunks.split(",")):
        # predict's inner loop with `chunk` images per call, uncapped (predict caps it at
        # IMAGE_CHUNK), every network in each call.
        def run(c: int = chunk) -> list[torch.Tensor]:
            with torch.no_grad():
                return [target(weights, x[j:j + c]).softmax(-1) for j in range(0, len(x), c)]

        seconds = median_seconds(run, cpu, args.repeats)
        by_chunk[str(chunk)] = {"seconds": round(seconds, 3), **rate(flops, seconds, peak)}
    with torch.no_grad():
        seconds = median_seconds(lambda: predict_proba(target, weights, x), cpu, args.repeats)
    print(json.dumps({
        "device": describe(cpu), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": machine(), "allocator": memory,
        "matmul_peak_gflop_per_s": round(peak / 1e9, 1),
        "data": "MNIST test set" if args.data_dir else "random images of MNIST's shape",
        "networks": args.networks, "image_chunk": IMAGE_CHUNK,
        "seconds_by_images_per_call": by_chunk,
        "predict_proba": {"seconds": round(seconds, 3), **rate(flops, seconds, peak)},
    }, indent=2))


if __name__ == "__main__":
    main()

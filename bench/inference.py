"""Inference speed: memory layout per built-in target, and a 100-network ensemble evaluated
batched vs the naive way. Prints JSON; not a test.

    python bench/inference.py [--data-dir ../shared/data] [--device auto] [--networks 100] [--threads 2]
                              [--allocator tuned] [--backends loop,vmap] [--layouts on|off] [--rounds 1]

``layout_seconds``: NCHW vs channels-last weights and inputs for every built-in target, for
inference (one plain module, 1,024 images) and for a training step (32 generated networks x 32
images, forward + backward): the evidence for TargetNet's channels-last layout on CPU.
``predict_proba_loop_native_pool``: the loop with PyTorch's own max pooling (index tensor and
all) instead of `hyperzoo.targets.pooling`. ``--networks 0`` skips the ensemble part,
``--layouts`` off skips the layout part. The ensemble's rates (``fraction_of_peak``) are
against a matmul peak measured in the same run. Random images of MNIST's shape without --data-dir.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from hardware import (
    allocator,
    count_flops,
    describe,
    machine,
    matmul_ceiling,
    matmul_peak,
    median_seconds,
    mnist_test_images,
    rate,
    rotated,
    round_peak,
    sync,
)
from step_rounds import spread
from torch.func import functional_call

from hyperzoo.devices import resolve_device
from hyperzoo.evaluation import ensembles, predict_proba
from hyperzoo.methods import build_method
from hyperzoo.targets import DeutschMNIST, TargetNet
from hyperzoo.targets.registry import BUILTIN
from hyperzoo.targets.target_net import to_channels_last


def image_targets() -> dict[str, tuple[type[torch.nn.Module], tuple[int, ...]]]:
    """The built-in targets that take images (C, H, W), with their input shapes."""
    return {name: (cls, tuple(cls.input_shape)) for name, cls in BUILTIN.items()
            if len(getattr(cls, "input_shape", ())) == 3}


def layout_one(cls: type[torch.nn.Module], input_shape: tuple[int, ...], repeats: int) -> dict[str, float]:
    """Inference: one plain module on 1,024 images. Training: the trainer's path, 32 generated
    networks (slices of a weight batch that requires grad) x 32 images each, forward + backward."""
    torch.manual_seed(0)
    nchw = cls().eval()
    nhwc = cls().eval().to(memory_format=torch.channels_last)
    nhwc.load_state_dict(nchw.state_dict())
    x = torch.rand(1024, *input_shape)
    x_nhwc = x.to(memory_format=torch.channels_last)  # explicit NHWC strides, even for C = 1

    def infer(module, inputs):
        with torch.no_grad():
            module(inputs)

    batch = {k: (0.1 * torch.randn(32, *p.shape)).requires_grad_() for k, p in nchw.named_parameters()}
    xs = x.reshape(32, 32, *input_shape)
    ys = torch.randint(nchw(x[:1]).shape[-1], (32 * 32,))

    def train(channels_last: bool):
        w, inputs = batch, xs
        if channels_last:  # what TargetNet's CPU loop does
            w = {k: to_channels_last(v) if v.dim() == 5 else v for k, v in w.items()}
            inputs = to_channels_last(xs)
        logits = torch.stack([functional_call(nchw, {k: v[i] for k, v in w.items()}, (inputs[i],))
                              for i in range(32)])
        F.cross_entropy(logits.flatten(0, 1), ys).backward()

    runs = {"inference_nchw": lambda: infer(nchw, x),
            "inference_channels_last": lambda: infer(nhwc, x_nhwc),
            "training_32x32_nchw": lambda: train(False),
            "training_32x32_channels_last": lambda: train(True)}
    return {k: round(median_seconds(fn, torch.device("cpu"), repeats), 4) for k, fn in runs.items()}


def ensemble(x_test: torch.Tensor, networks: int, device: torch.device, peak: float,
             backends: tuple[str, ...] = ("loop", "vmap"), rounds: int = 1) -> dict:
    """``networks`` networks on every test image: predict_proba per backend (inputs moved to the
    device in chunks, probabilities back on the CPU), and the naive module-per-network loop.
    With ``rounds`` > 1: each round measures its own matmul peak and ceiling, then every variant
    once, in an order rotated each round, and the summary gives each variant's spread."""
    torch.manual_seed(0)
    target = TargetNet(DeutschMNIST().to(device), (1, 28, 28))
    method = build_method(target, {"name": "deutsch"}).to(device).eval()
    with torch.no_grad():
        weights = method.sample(networks, generator=torch.Generator().manual_seed(0))
        flops = networks * count_flops(lambda: DeutschMNIST().to(device).eval()(x_test[:1000].to(device))) \
            * len(x_test) // 1000
    out: dict = {}

    def batched(backend: str, index_free_pooling: bool = True):
        def run(x: torch.Tensor = x_test):
            target.backend, target.index_free_pooling = backend, index_free_pooling
            return predict_proba(target, weights, x)
        return run

    def naive(x: torch.Tensor = x_test):
        # The way to avoid: copy each network into a module, run it, repeat.
        module = DeutschMNIST().to(device).eval()
        with torch.no_grad():
            probs = []
            for i in range(networks):
                module.load_state_dict({k: v[i] for k, v in weights.items()})
                probs.append(torch.cat([module(x[j:j + 1000].to(device)).softmax(-1).cpu()
                                        for j in range(0, len(x), 1000)]))
            return torch.stack(probs)

    variants = [*((f"predict_proba_{b}", batched(b)) for b in backends), ("naive_module_loop", naive)]
    if "loop" in backends:  # the evidence for targets/pooling.py, in the same run
        variants.append(("predict_proba_loop_native_pool", batched("loop", index_free_pooling=False)))
    # Each variant once on a slice first: the one timed first paid for its kernels' setup (on a
    # GPU, cuDNN's) in a single cold call (a review, 2026-12-06).
    for _, fn in variants:
        fn(x_test[:1000])
        sync(device)
    if rounds == 1:
        for name, fn in variants:
            seconds = median_seconds(fn, device, 1, warmup=False)
            out[name] = {"seconds": round(seconds, 2), **rate(flops, seconds, peak)}
        return out
    rows = []
    for i in range(rounds):
        row: dict = {"matmul_peak_gflop_per_s": round(matmul_peak(device) / 1e9, 1),
                     "matmul_ceiling_gflop_per_s": round(matmul_ceiling(device) / 1e9, 1)}
        order = rotated(variants, i)
        row["order"] = [name for name, _ in order]
        for name, fn in order:
            row[name] = round(median_seconds(fn, device, 1, warmup=False), 2)
        rows.append(row)
    top = max(r["matmul_ceiling_gflop_per_s"] for r in rows) * 1e9
    out["rounds"] = rows
    out["gflop"] = round(flops / 1e9, 1)
    out["run_ceiling_gflop_per_s"] = round(top / 1e9, 1)
    for name, _ in variants:
        out[name] = {
            "seconds": spread([r[name] for r in rows]),
            "fraction_of_peak": spread([flops / r[name] / r["matmul_peak_gflop_per_s"] / 1e9 for r in rows]),
            "fraction_of_round_ceiling": spread([flops / r[name] / round_peak(r) / 1e9 for r in rows]),
            "fraction_of_run_ceiling": spread([flops / r[name] / top for r in rows])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (else random images)")
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--allocator", default="tuned", choices=["tuned", "default"],
                        help="the hyperzoo command's glibc thresholds (tuned) or glibc's default")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (the ensemble part)")
    parser.add_argument("--backends", default="loop,vmap", help="TargetNet backends for the ensemble")
    parser.add_argument("--layouts", default="on", choices=["on", "off"], help="time the CPU layouts")
    parser.add_argument("--rounds", type=int, default=1,
                        help="ensemble rounds, each with its own peak, the variants in rotated order")
    args = parser.parse_args()
    memory = allocator(args.allocator)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    x_test, data = mnist_test_images(args.data_dir)
    peak = matmul_peak(device)
    report = {
        "device": describe(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": machine(device),
        "allocator": memory,
        "matmul_peak_gflop_per_s": round(peak / 1e9, 1),
        "data": data,
        "predict_image_chunk": ensembles.IMAGE_CHUNK,
    }
    if args.layouts == "on":
        report["layout_seconds_cpu"] = {name: layout_one(cls, shape, args.repeats)
                                        for name, (cls, shape) in image_targets().items()}
    if args.networks:
        report[f"ensemble_{args.networks}_on_{len(x_test)}_images"] = ensemble(
            x_test, args.networks, device, peak, tuple(args.backends.split(",")), args.rounds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

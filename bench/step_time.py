"""Where a training step of the Deutsch MNIST recipe spends its time, and how close the step
and its target-only floor come to the device's matmul peak measured in the same run. Prints
JSON; not a test. (Inference speed: bench/inference.py.)

    python bench/step_time.py [--data-dir ../shared/data] [--device auto] [--repeats 5] [--allocator tuned]
                              [--backends threads,loop,vmap] [--profile]

Random images of MNIST's shape without --data-dir (the speed does not depend on the pixels).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

import torch
from hardware import allocator, count_flops, describe, machine, matmul_peak, median_seconds, rate, sync
from torch import nn

from hyperzoo.data import load_dataset
from hyperzoo.devices import resolve_device
from hyperzoo.diversity import kl_entropy
from hyperzoo.methods import build_method
from hyperzoo.symmetry import gauge_fix
from hyperzoo.targets import DeutschMNIST, TargetNet
from hyperzoo.train import _finite, _params, _state_tensors
from hyperzoo.weights import flatten

PAPER = {"name": "deutsch", "generator_hidden": [[40, 40], [100, 100], [100, 100], [60, 60]]}


# Operator name fragments → the category the profile reports them under (first match wins).
CATEGORIES = (("convolution_backward", "conv_backward"), ("convolution", "conv_forward"),
              ("max_pool2d_with_indices_backward", "pooling_backward"), ("max_pool", "pooling_forward"),
              ("threshold_backward", "relu"), ("clamp_min", "relu"), ("relu", "relu"),
              ("cdist", "gauge_entropy"), ("addmm", "dense_matmul"), ("mm", "dense_matmul"))


def where_time_goes(fn, repeats: int) -> dict[str, Any]:
    """Self CPU time of ``fn`` by operator category (torch.profiler: the total over ``repeats``
    calls divided by ``repeats``), in seconds per call, largest first; and each convolution's
    forward and backward (by input and kernel shape) with its GFLOP/s. CPU time only: on CUDA it
    shows the host's side, not the kernels'."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(repeats):
            fn()
    seconds: dict[str, float] = {}
    for event in prof.key_averages():
        name = event.key.removeprefix("aten::")
        category = next((c for frag, c in CATEGORIES if frag in name), "other")
        seconds[category] = seconds.get(category, 0.0) + event.self_cpu_time_total / 1e6 / repeats
    largest_first = sorted(seconds.items(), key=lambda kv: -kv[1])
    return {"profile_seconds_per_step": {k: round(v, 4) for k, v in largest_first},
            "profile_convolutions": convolution_rates(prof.events(), repeats)}


def convolution_rates(events, repeats: int) -> list[dict]:
    """Per convolution (input and kernel shape): seconds per step of its forward (``aten::
    convolution``) and backward (``aten::convolution_backward``), each inclusive of the kernels
    beneath it (whichever backend), and their GFLOP/s. A forward is 2 x output elements x
    kernel size FLOPs (its output shape read from ``aten::conv2d``'s consumer: the matching
    backward's gradient); a backward one such product per gradient it is asked for (its output
    mask: weight and, but for the first layer, input). Profiler times include its own overhead."""
    layers: dict[tuple, dict] = {}

    def layer(x, w) -> dict:
        return layers.setdefault((tuple(x), tuple(w)), {"forward_s": 0.0, "backward_s": 0.0, "forwards": 0,
                                                        "backward_flops": 0.0})
    for e in events:
        if e.name == "aten::convolution_backward":
            grad_out, x, w = e.input_shapes[:3]
            mask = e.concrete_inputs[-1] if e.concrete_inputs else None
            products = int(mask[0]) + int(mask[1]) if isinstance(mask, list) and len(mask) == 3 else 2
            entry = layer(x, w)
            entry["macs"] = math.prod(grad_out) * math.prod(w[1:])
            entry["backward_s"] += e.cpu_time_total / 1e6 / repeats
            entry["backward_flops"] += 2 * entry["macs"] * products / repeats
        elif e.name == "aten::convolution":
            entry = layer(*e.input_shapes[:2])
            entry["forward_s"] += e.cpu_time_total / 1e6 / repeats
            entry["forwards"] += 1
    out = []
    for (x, w), entry in layers.items():
        row = {"input": list(x), "kernel": list(w), "forward_seconds_per_step": round(entry["forward_s"], 4),
               "backward_seconds_per_step": round(entry["backward_s"], 4)}
        if "macs" in entry:  # output size known from a backward of the same shapes
            gflop = 2 * entry["macs"] * entry["forwards"] / repeats / 1e9
            row["forward_gflop_per_s"] = round(gflop / entry["forward_s"], 1) if entry["forward_s"] else None
            row["backward_gflop_per_s"] = round(entry["backward_flops"] / 1e9 / entry["backward_s"], 1)
        out.append(row)
    return sorted(out, key=lambda r: -(r["forward_seconds_per_step"] + r["backward_seconds_per_step"]))


def random_batch(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The recipe's batch shape with random pixels and labels (seeded): images (32, 32, 1, 28, 28)
    for 32 networks, labels (32, 32); the speed does not depend on the pixels."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 32, 1, 28, 28, generator=gen), torch.randint(10, (32, 32), generator=gen)
    return x.to(device), y.to(device)


def paper_recipe(backend: str, x: torch.Tensor, y: torch.Tensor, module: nn.Module | None = None):
    """The recipe on ``x``'s device (seeded): its target (``module``, by default DeutschMNIST),
    method, Adam, noise generator and one whole training step on the images ``x``
    (N, B, 1, 28, 28) with labels ``y`` (N, B)."""
    torch.manual_seed(0)
    target = TargetNet((module or DeutschMNIST()).to(x.device), (1, 28, 28), backend=backend)
    method = build_method(target, PAPER).to(x.device)
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)

    def one_step():
        weights = method.sample(x.shape[0], generator=g)
        _, ce = target.cross_entropy(weights, x, y)  # as the method's training loss computes it
        opt.zero_grad()
        (1000 * ce - kl_entropy(flatten(gauge_fix(target, weights)), d=300)).backward()
        opt.step()

    return target, method, opt, g, one_step


def step_breakdown(backend: str, x, y, repeats: int, peak: float, profile: bool = False) -> dict[str, float]:
    device = x.device
    target, method, opt, g, one_step = paper_recipe(backend, x, y)
    # target_pass: the networks' forward and, on the loop (any device) and threads, each one's
    # backward right after it (TargetNet.cross_entropy, as the trainer runs them since 2026-12-06);
    # remaining_backward: the rest of the backward (the hypernetwork, gauge fixing, entropy; on
    # vmap, the networks' too). Earlier JSONs name them target_forward and backward, measured
    # with every backward at the end.
    names = ("hypernetwork_forward", "target_pass", "gauge_entropy_forward", "remaining_backward",
             "optimizer", "step")
    parts: dict[str, list[float]] = {k: [] for k in names}

    def clock() -> float:
        sync(device)  # per phase on CUDA: the phases' sum is a little above an unsynced step
        return time.perf_counter()

    def loop_flops(fn) -> int:
        # Counted on the loop, the same arithmetic: under vmap torch's counter reported 11.7 times
        # the loop's count for this step (2026-12-04), more than the step computes, and it does
        # not see the operators the threads backend runs on its workers.
        target.backend = "loop"
        try:
            return count_flops(fn)
        finally:
            target.backend = backend

    step_flops = loop_flops(one_step)
    for i in range(repeats + 1):
        t0 = clock()
        weights = method.sample(x.shape[0], generator=g)
        t1 = clock()
        _, ce = target.cross_entropy(weights, x, y)  # on CPU threads and loop, with its backward
        t2 = clock()
        entropy = kl_entropy(flatten(gauge_fix(target, weights)), d=300)
        t3 = clock()
        opt.zero_grad()
        (1000 * ce - entropy).backward()
        t4 = clock()
        opt.step()
        t5 = clock()
        if i:  # skip warm-up
            for k, v in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0), strict=True):
                parts[k].append(v)
    result = {k: round(statistics.median(v), 4) for k, v in parts.items()}

    # Floor: the same networks' forward + backward with the weights as leaves.
    leaves = {k: v.detach().requires_grad_() for k, v in weights.items()}

    def target_only():
        target.cross_entropy(leaves, x, y)[1].backward()

    result["target_only_forward_backward"] = round(median_seconds(target_only, device, repeats), 4)

    # The trainer's per-step divergence check (gradients, parameters, Adam state), with its read.
    params = _params(opt)
    lists = [[p.grad for p in params], params, _state_tensors(opt)]
    result["finiteness_check"] = round(median_seconds(
        lambda: all(bool(_finite(t, device)) for t in lists), device, repeats), 5)
    result["finiteness_check_fraction_of_step"] = round(result["finiteness_check"] / result["step"], 4)
    result["step_rate"] = rate(step_flops, result["step"], peak)
    result["target_only_rate"] = rate(loop_flops(target_only), result["target_only_forward_backward"], peak)
    # Profiled apart from the timings above (the profiler slows what it watches); not on
    # threads, whose operators (the loop's) run on workers the profiler does not record.
    if profile and backend != "threads":
        result.update(where_time_goes(one_step, repeats))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (else random images)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--allocator", default="tuned", choices=["tuned", "default"],
                        help="the hyperzoo command's glibc thresholds (tuned) or glibc's default")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--backends", default="threads,loop,vmap", help="TargetNet backends to time")
    parser.add_argument("--profile", action="store_true",
                        help="also the step's self CPU time by operator category")
    args = parser.parse_args()
    memory = allocator(args.allocator)
    device = resolve_device(args.device)
    if args.data_dir:
        train = load_dataset("mnist", "train", args.data_dir)
        idx = torch.randint(len(train), (32 * 32,), generator=torch.Generator().manual_seed(0))
        x, y = train.x[idx].reshape(32, 32, 1, 28, 28).to(device), train.y[idx].reshape(32, 32).to(device)
    else:
        x, y = random_batch(device)
    peak = matmul_peak(device)
    report = {
        "device": describe(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": machine(device),
        "allocator": memory,
        "matmul_peak_gflop_per_s": round(peak / 1e9, 1),
        "recipe": "Deutsch MNIST, 32 noise vectors x 32 images",
        "data": "MNIST" if args.data_dir else "random images of MNIST's shape",
        "repeats": args.repeats,  # each time is the median of this many calls
        "step_seconds": {b: step_breakdown(b, x, y, args.repeats, peak, args.profile)
                         for b in args.backends.split(",")},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Which CPU backend evaluates small and large targets faster: ``vmap`` (one call for all
networks) or a Python call per network (``threads`` in training, the loop in inference: what
``auto`` ran before it chose by size). Prints JSON; not a test.

    python bench/backends.py [--rounds 3] [--repeats 5] [--threads 2]

For every built-in target and two MLPs, 32 networks: training (forward + backward, 32 images
per network; the toy regression's 20 points) and inference (no autograd, 256 shared images),
each way in interleaved rounds (the order reversed every other round), the median of
``--repeats`` calls. ``vmap_over_per_network`` is the ratio of the two times per round (below
1: vmap faster) with its mean and spread; ``auto_uses_vmap`` is what `TargetNet`'s ``auto`` now
picks there (`TargetNet._vmap_wins`, ``VMAP_MAX_FLOPS``). With ``--threads 1`` the per-network
path in training is the loop too (threads need two).
"""

from __future__ import annotations

import argparse
import json

import torch
from hardware import allocator, describe, machine, median_seconds
from step_rounds import spread
from torch import nn

from hyperzoo.targets import TargetNet, build_target
from hyperzoo.targets.target_net import VMAP_MAX_FLOPS


class MLP(nn.Sequential):
    """Feature vectors of ``d`` through two hidden layers of ``h`` to 10 outputs."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))


def cases() -> list[tuple[str, nn.Module, tuple[int, ...], int]]:
    """(name, module, input shape, training images per network)."""
    out = [("point", build_target("point", {}), (1,), 32),
           ("regression_mlp", build_target("regression_mlp", {"hidden": 100}), (1,), 20),
           ("mlp_20x64", MLP(20, 64), (20,), 32), ("mlp_784x512", MLP(784, 512), (784,), 32),
           ("mlp_1024x1024", MLP(1024, 1024), (1024,), 32)]
    digits = build_target("digits_net", {})
    out += [(f"digits_net_{m}", digits, (1, 8, 8), m) for m in (32, 64, 128)]
    for name in ("lenet_cifar", "hypergan_cifar", "hypergan_mnist", "deutsch_mnist"):
        module = build_target(name, {})
        out.append((name, module, tuple(module.input_shape), 32))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    memory = allocator("tuned")
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    report: dict = {"device": describe(cpu), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "machine": machine(), "allocator": memory, "networks": 32,
                    "vmap_max_flops": VMAP_MAX_FLOPS, "targets": {}}
    for name, module, shape, images in cases():
        row: dict = {}
        training = "threads" if torch.get_num_threads() > 1 else "loop"
        for phase, per_network, batch in (("training", training, images), ("inference", "loop", 256)):
            grad = phase == "training"
            module.train(grad)
            targets = {b: TargetNet(module, shape, backend=b) for b in ("vmap", per_network)}
            w = {k: (0.1 * torch.randn(32, *s)).requires_grad_(grad)
                 for k, s in targets["vmap"].param_shapes.items()}
            x = torch.randn(32, batch, *shape) if grad else torch.randn(batch, *shape)

            def call(target: TargetNet, grad: bool = grad, w: dict = w, x: torch.Tensor = x) -> None:
                if grad:
                    target(w, x).square().mean().backward()
                else:
                    with torch.no_grad():
                        target(w, x)
            seconds: dict[str, list[float]] = {b: [] for b in targets}
            for r in range(args.rounds):
                for b in (list(targets) if r % 2 == 0 else list(targets)[::-1]):
                    seconds[b].append(median_seconds(lambda t=targets[b]: call(t), cpu, args.repeats))
            auto = TargetNet(module, shape)
            row[phase] = {
                "images_per_network": batch,
                "forward_mflop_per_network_call": round(auto._example_flops * batch / 1e6, 2),
                "vmap_seconds": spread(seconds["vmap"]),
                f"{per_network}_seconds": spread(seconds[per_network]),
                "vmap_over_per_network": spread([v / p for v, p in zip(seconds["vmap"], seconds[per_network],
                                                                     strict=True)]),
                "auto_uses_vmap": auto._vmap_wins(batch)}
        report["targets"][name] = row
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""ResNet-32 training step for N networks (default 32): batched (vmap) vs per-network loop.

Times the target's part of a training step — forward and backward of N ResNet-32 networks in
train mode (each network normalised by its own batch statistics), the weights as leaves — for
``TargetNet(backend="vmap")`` and ``backend="loop"``, and the full Deutsch step (hypernetwork,
target, gauge and entropy, backward) with each. Synthetic CIFAR-shaped inputs; no data needed.
Prints JSON; not a test. A GPU run is what the comparison is for; on a CPU keep it short.

    python bench/resnet_step.py [--networks 32] [--images 32] [--repeats 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from hardware import describe, machine, median_seconds

from hyperzoo.config import load_config
from hyperzoo.methods import build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import CIFARResNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=32)
    parser.add_argument("--images", type=int, default=32, help="images per network")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", default="experiments/deutsch_resnet32_cifar10_paper.yaml",
                        help="the hypernetwork for the full step")
    args = parser.parse_args()
    n, m, dev = args.networks, args.images, args.device
    torch.manual_seed(0)
    x = torch.randn(n, m, 3, 32, 32, device=dev)
    y = torch.randint(10, (n, m), device=dev)
    result: dict[str, object] = {"networks": n, "images_per_network": m, "depth": args.depth,
                                 "device": machine(torch.device(dev)), "setting": describe(torch.device(dev)),
                                 "threads": torch.get_num_threads(), "torch": torch.__version__}
    for backend in ("vmap", "loop"):
        module = CIFARResNet(depth=args.depth).to(dev).train()
        target = TargetNet(module, (3, 32, 32), backend=backend)
        leaves = {k: p.detach().unsqueeze(0).repeat(n, *[1] * p.dim()).requires_grad_()
                  for k, p in module.named_parameters()}

        def target_step(target=target, leaves=leaves):
            loss = F.cross_entropy(target(leaves, x).flatten(0, 1), y.flatten())
            loss.backward()

        cfg = load_config(args.config, [f"target.kwargs={{depth: {args.depth}}}"])
        method = build_method(target, cfg.method).to(dev).train()
        opt = torch.optim.Adam(method.parameters(), lr=1e-3)

        def full_step(method=method, opt=opt):
            out = method.training_loss(x, y, 0)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()

        device = torch.device(dev)
        result[backend] = {
            "target_forward_backward_s": round(median_seconds(target_step, device, args.repeats), 4),
            "deutsch_step_s": round(median_seconds(full_step, device, args.repeats), 4)}
    result["loop_over_vmap_target"] = round(result["loop"]["target_forward_backward_s"]  # type: ignore[index]
                                            / result["vmap"]["target_forward_backward_s"], 3)  # type: ignore[index]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

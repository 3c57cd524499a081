"""Dead layers: a target's ReLU layers that are (nearly) silent in the sampled networks.

A hypernetwork's networks share their generator, so a few steps can move every unit of a layer
at once; when they push a ReLU layer's inputs below zero nearly everywhere, the layer outputs
zeros, almost no gradient reaches the layers below it, and the run sits near chance (README, "A
run that does not learn"). The trainer checks for it at each validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch

# Activations that output exactly zero wherever they are inactive. Functional calls
# (``F.relu`` inside a forward) are not modules and go unseen.
ZERO_WHEN_INACTIVE = (nn.ReLU, nn.ReLU6)
# A layer active on fewer of its outputs than this passes almost no gradient down. In the runs
# measured (experiments/results/dead-layer-cpu/report.json) the stalled runs' dense layer sat at
# 0.001-0.3% for 50-160 steps, while the healthy run's dipped to 2.1% at step 10 and recovered by
# step 20: a margin of 2 on that side, and a stall at 1.4% goes unflagged.
SILENT_BELOW = 0.01


@contextmanager
def _one_network_at_a_time(target: TargetNet) -> Iterator[None]:
    # Forward hooks see each network's own activations only on the loop backend (on threads
    # the networks run on copies of the module, under vmap as batched tensors).
    before, target.backend = target.backend, "loop"
    try:
        yield
    finally:
        target.backend = before


@torch.no_grad()
def activity(target: TargetNet, weights: WeightBatch, x: torch.Tensor) -> dict[str, float]:
    """For each of the target's ReLU modules (in module order), the share of its outputs that are
    not zero over every network in ``weights`` (N, ...) and every input in ``x`` (B, ...; moved
    to the weights' device). A module called at several places counts all its calls. A ReLU
    after a max-pool (the built-in targets' `pool_then`) counts the pooled outputs, which are
    active more often than the layer before pooling."""
    device = next(iter(weights.values())).device
    active: dict[str, torch.Tensor] = {}  # counted on the device: read once, not once per call
    total: dict[str, int] = {}
    handles = []

    def record(name: str):
        def hook(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            active[name] += torch.count_nonzero(out)
            total[name] += out.numel()
        return hook

    for name, module in target.module.named_modules():
        if isinstance(module, ZERO_WHEN_INACTIVE):
            active[name], total[name] = torch.zeros((), dtype=torch.long, device=device), 0
            handles.append(module.register_forward_hook(record(name)))
    if not active:
        return {}
    try:
        with _one_network_at_a_time(target):
            target(weights, x.to(device))
    finally:
        for handle in handles:
            handle.remove()
    counts = torch.stack(list(active.values())).tolist()
    return {name: n / total[name] for name, n in zip(active, counts, strict=True) if total[name]}

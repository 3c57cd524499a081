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
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

from hyperzoo.targets import TargetNet
from hyperzoo.targets.target_net import layer_labels
from hyperzoo.weights import WeightBatch

# Activations that output exactly zero wherever they are inactive: modules, and the same as
# functional calls in a module's own forward (a user's ``F.relu(self.fc(x))``).
ZERO_WHEN_INACTIVE = (nn.ReLU, nn.ReLU6)
_RELU_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", torch.Tensor.relu: "relu",
                   torch.Tensor.relu_: "relu", F.relu6: "relu6"}
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


class _Counts:
    """Nonzero and total outputs per layer name, in the order first seen; the nonzero counts
    stay on the device (read once, not once per call)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.active: dict[str, torch.Tensor] = {}
        self.total: dict[str, int] = {}
        # The layer each tensor comes from, passed on through what is computed from it (the first
        # input that has one: a residual sum `main + shortcut` comes from the main path; the layer
        # that ran last, which named the shortcut's convolution, did not say that).
        self.origin = WeakIdKeyDictionary()
        self.after: dict[str, str] = {}  # ReLU name -> the label of the layer it follows

    def source(self, *args: object) -> str | None:
        """The layer the first of ``args`` that has one comes from (lists looked into:
        ``torch.cat([a(x), b(x)])``)."""
        for a in args:
            found = self.source(*a) if isinstance(a, (list, tuple)) else (
                self.origin.get(a) if isinstance(a, torch.Tensor) else None)
            if found is not None:
                return found
        return None

    def add(self, name: str, out: torch.Tensor, source: str | None) -> None:
        if source is not None:
            self.after.setdefault(name, source)
        if name not in self.active:
            self.active[name], self.total[name] = torch.zeros((), dtype=torch.long, device=self.device), 0
        self.active[name] += torch.count_nonzero(out)
        self.total[name] += out.numel()

    def shares(self) -> dict[str, float]:
        counts = torch.stack(list(self.active.values())).tolist() if self.active else []
        return {name: n / self.total[name] for name, n in zip(self.active, counts, strict=True)
                if self.total[name]}


class _FunctionalReLUs(TorchFunctionMode):
    """Counts the ReLUs a module's forward calls as functions, named ``OWNER.relu#k``: the k-th
    such call in that module's forward (``relu#k`` in the root's). Calls inside a ReLU module's
    own forward are left to its hook."""

    def __init__(self, counts: _Counts) -> None:
        super().__init__()
        self.counts = counts
        self.stack: list[tuple[str, nn.Module]] = []
        self.calls: dict[str, int] = {}

    def enter(self, name: str, module: nn.Module) -> None:
        self.stack.append((name, module))
        self.calls[name] = 0  # numbered afresh in each call of the module

    def leave(self) -> None:
        self.stack.pop()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        source = self.counts.source(*args, *(kwargs or {}).values())
        if source is not None and isinstance(out, torch.Tensor):
            self.counts.origin[out] = source
        kind = _RELU_FUNCTIONS.get(func)
        if kind is not None and self.stack and not isinstance(self.stack[-1][1], ZERO_WHEN_INACTIVE):
            owner = self.stack[-1][0]
            self.calls[owner] += 1
            place = f"{kind}#{self.calls[owner]}"
            self.counts.add(f"{owner}.{place}" if owner else place, out, source)
        return out


@torch.no_grad()
def activity(target: TargetNet, weights: WeightBatch, x: torch.Tensor,
             after: dict[str, str] | None = None) -> dict[str, float]:
    """For each ReLU of the target, the share of its outputs that are not zero over every network
    in ``weights`` (N, ...) and every input in ``x`` (B, ...; moved to the weights' device), in
    the order of the forward pass. A ReLU module goes by its name and counts all its calls if it
    is called at several places; a functional ReLU (``F.relu``, ``torch.relu``, ``x.relu()``,
    ``F.relu6``) goes by its module's name and its place among that forward's calls,
    ``OWNER.relu#k``. A ReLU after a max-pool (the built-in targets' `pool_then`) counts the
    pooled outputs, which are active more often than the layer before pooling. ``after``, where
    given, receives each ReLU's place for people: the label of the layer it follows (``fc1``),
    as figures name layers, with its module's path where that label is made up (``fc1, module
    '7'``: a user's ``mid.1`` was called ``fc3`` alone); a ReLU's own name is often only a
    position (``'8'``)."""
    counts = _Counts(next(iter(weights.values())).device)
    functional = _FunctionalReLUs(counts)
    handles = []
    labels = {name: label if label == name else f"{label}, module '{name}'"
              for name, label in zip((spec.name for spec in target.layers), layer_labels(target.layers),
                                     strict=True)}
    for name, module in target.module.named_modules():
        if name in labels:  # a layer's output comes from it (a norm after it passes it on)
            handles.append(module.register_forward_hook(
                lambda _m, _i, out, label=labels[name]: counts.origin.__setitem__(out, label)))
        if isinstance(module, ZERO_WHEN_INACTIVE):
            handles.append(module.register_forward_hook(
                lambda _m, inputs, out, name=name: counts.add(name, out, counts.source(*inputs))))
        handles.append(module.register_forward_pre_hook(
            lambda m, _i, name=name: functional.enter(name, m)))
        # always_call: the stack stays balanced when a forward raises.
        handles.append(module.register_forward_hook(lambda *_: functional.leave(), always_call=True))
    try:
        with _one_network_at_a_time(target), functional:
            target(weights, x.to(counts.device))
    finally:
        for handle in handles:
            handle.remove()
    if after is not None:
        after.update(counts.after)
    return counts.shares()

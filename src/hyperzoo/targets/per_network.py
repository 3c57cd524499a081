"""One ``functional_call`` per network: the CPU loop's evaluation, run by `TargetNet` and by
each worker of `threads`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call


def call_each(module: nn.Module, names: Sequence[str], values: Sequence[torch.Tensor], x: torch.Tensor,
              shared: bool, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
    """``module`` with the tensors ``values`` ``(N, ...)`` (named ``names``) of each network in
    turn, and ``fixed`` (buffers) for all, on ``x`` (``(B, ...)`` if ``shared``, else
    ``(N, B, ...)``): ``(N, B, ...)``."""
    # unbind, not v[i]: each select's backward writes a zero tensor of the whole batch's size,
    # N of them per step; unbind's backward stacks the N gradients once.
    nets = zip(*(v.unbind(0) for v in values), strict=True)
    inputs = [x] * len(values[0]) if shared else x.unbind(0)
    return torch.stack([functional_call(module, {**dict(zip(names, params, strict=True)), **fixed}, (xi,))
                        for params, xi in zip(nets, inputs, strict=True)])

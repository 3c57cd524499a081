"""The optimizer of every parameter group of a method: Adam (the default) or SGD with momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

import torch
from torch import nn

OptimizerKind = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerKind)
# SGD's momentum when train.momentum is unset (the usual value for SGD baselines).
SGD_MOMENTUM = 0.9


def make_optimizer(params: Iterable[nn.Parameter], kind: str, lr: float,
                   momentum: float | None = None, fused: bool = False) -> torch.optim.Optimizer:
    """``kind`` "adam" (Adam with torch's defaults; ``fused``: its one-pass kernel, the same
    update up to rounding) or "sgd" (heavy-ball momentum, default ``SGD_MOMENTUM``). Weight decay
    is a method's own ℓ2 term (``method.weight_decay``), not the optimizer's. Settings were
    checked by `TrainConfig`; a bad ``kind`` here is a bug."""
    if kind == "adam":
        # The default (per-tensor) Adam made temporaries of every parameter's size: a quarter of
        # a HyperGAN MNIST step (18 M parameters) on the CPU, the fused kernel a third of that.
        return torch.optim.Adam(params, lr=lr, fused=fused or None)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=SGD_MOMENTUM if momentum is None else momentum)
    raise ValueError(f"optimizer {kind!r} is not one of {', '.join(OPTIMIZERS)}")


def make_optimizers(method: nn.Module, kind: str, lr: float, momentum: float | None = None,
                    fused: bool = False) -> dict[str, torch.optim.Optimizer]:
    """One optimizer (`make_optimizer`) per parameter group of ``method``
    (``method.optimizer_groups()``), as the trainer builds them."""
    return {group: make_optimizer(params, kind, lr, momentum, fused)
            for group, params in method.optimizer_groups().items()}  # type: ignore[operator]

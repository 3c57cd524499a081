"""`VmapAutocast`: what ``torch.autocast`` leaves undone under ``torch.vmap``.

Under vmap (the GPU path) torch 2.13's autocast left a network's convolutions in float32, nearly
all of its arithmetic under ``train.precision: bf16``, and the linear layers of some (ResNet's
head, tests/targets/test_target_net.py). This mode casts the floating-point arguments of both to
the autocast dtype, as autocast does outside vmap (float32 ones: float64 stays). Batch norm
then meets a lower-precision input with float32 statistics, which its vmap rule refuses (outside
vmap the kernels accept the mix), so it normalises in float32 and hands the next layer its output
in the lower precision, as it would outside vmap.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F  # noqa: N812
from torch.overrides import TorchFunctionMode

# Tuples, not sets: torch.compile before 2.11 breaks the graph at a set's `in`.
_LOWER = (torch.conv1d, torch.conv2d, torch.conv3d, F.linear)
# Instance norm with running statistics reaches batch norm inside C++, unseen by this mode.
_FULL_PRECISION = (F.batch_norm, torch.batch_norm, F.instance_norm, torch.instance_norm)


class VmapAutocast(TorchFunctionMode):
    """Within it, convolutions and linear layers run in ``dtype``, batch norm in float32 (see the
    module)."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
                           ) -> Any:
        kwargs = kwargs or {}
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and not torch.is_autocast_enabled(first.device.type):
            # The caller's own `torch.autocast(enabled=False)` region keeps its float32.
            return func(*args, **kwargs)
        if func in _LOWER:
            return func(*_cast(args, torch.float32, self.dtype), **_cast(kwargs, torch.float32, self.dtype))
        if func in _FULL_PRECISION:
            lowered = isinstance(args[0], torch.Tensor) and args[0].dtype == self.dtype
            out = func(*_cast(args, self.dtype, torch.float32), **_cast(kwargs, self.dtype, torch.float32))
            return out.to(self.dtype) if lowered else out
        return func(*args, **kwargs)


def _cast(values: Any, source: torch.dtype, target: torch.dtype) -> Any:
    """``values`` (a tuple or dict) with every tensor of dtype ``source`` in ``target``."""
    def one(v: Any) -> Any:
        return v.to(target) if isinstance(v, torch.Tensor) and v.dtype == source else v
    if isinstance(values, dict):
        return {k: one(v) for k, v in values.items()}
    return tuple(one(v) for v in values)

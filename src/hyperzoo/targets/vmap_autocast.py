"""`VmapAutocast`: what ``torch.autocast`` leaves undone under ``torch.vmap``.

Under vmap (the GPU path) torch 2.13's autocast left a network's convolutions in float32, nearly
all of its arithmetic under ``train.precision: bf16``, and the linear layers of some (ResNet's
head, tests/targets/test_target_net.py). This mode casts the floating-point arguments of both to
the autocast dtype, as autocast does outside vmap. Batch norm then meets a lower-precision input
with float32 statistics, which its vmap rule refuses (outside vmap the kernels accept the mix), so
it runs in float32, as autocast runs the other normalisations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F  # noqa: N812
from torch.overrides import TorchFunctionMode

_LOWER = frozenset({torch.conv1d, torch.conv2d, torch.conv3d, F.linear})
_FULL_PRECISION = frozenset({F.batch_norm, torch.batch_norm})


class VmapAutocast(TorchFunctionMode):
    """Within it, convolutions and linear layers run in ``dtype``, batch norm in float32 (see the
    module)."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None):
        kwargs = kwargs or {}
        if func in _LOWER:
            args, kwargs = _cast(args, self.dtype), _cast(kwargs, self.dtype)
        elif func in _FULL_PRECISION:
            args, kwargs = _cast(args, torch.float32), _cast(kwargs, torch.float32)
        return func(*args, **kwargs)


def _cast(values: Any, dtype: torch.dtype) -> Any:
    """``values`` (a tuple or dict) with every floating-point tensor in ``dtype``."""
    def one(v: Any) -> Any:
        return v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
    if isinstance(values, dict):
        return {k: one(v) for k, v in values.items()}
    return tuple(one(v) for v in values)

"""2-D max-pooling through PyTorch's channels-last kernel while a target trains on the CPU.

PyTorch's CPU max-pool is vectorised over channels in channels-last (NHWC) layout and scalar in
the default NCHW layout: on the Deutsch MNIST net's first pool (32 images × 32 channels × 28²) the
NCHW forward took 4.6 ms, an NHWC copy plus the NHWC kernel 1.6 ms, on one thread — a quarter of
a training step went to pooling (bench/pooling.py). Training keeps NCHW (its convolutions'
backward was slower in NHWC, bench/inference.py), so `ChannelsLastMaxPool` pools an NHWC copy
and hands back NCHW output. The output and the indices are PyTorch's own, so the values and the
gradient (to the first maximum of each window, as PyTorch chooses) are identical.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode

_MAX_POOLS = (F.max_pool2d, torch.max_pool2d)


class _MaxPoolNHWC(torch.autograd.Function):
    """``max_pool2d_with_indices`` of an NCHW tensor computed on an NHWC copy; NCHW results.
    (``setup_context`` style, so it also runs under torch.func transforms.)"""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, kernel: list[int], stride: list[int], padding: list[int],  # type: ignore[override]
                dilation: list[int], ceil_mode: bool) -> tuple[torch.Tensor, torch.Tensor]:
        out, indices = torch.ops.aten.max_pool2d_with_indices(
            x.contiguous(memory_format=torch.channels_last), kernel, stride, padding, dilation, ceil_mode)
        # Indices number positions within each (H, W) plane, whatever the layout.
        return out.contiguous(), indices.contiguous()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, *args = inputs
        ctx.save_for_backward(x, output[1])
        ctx.args = tuple(args)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, indices = ctx.saved_tensors
        # A differentiable op: double backward works as for F.max_pool2d.
        gx = torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, *ctx.args, indices)
        return gx, None, None, None, None, None


def max_pool2d_nhwc(x: torch.Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                    dilation: Any = 1, ceil_mode: bool = False) -> torch.Tensor:
    """``F.max_pool2d`` (without indices) of an NCHW tensor, through the channels-last kernel."""
    kernel = list(_pair(kernel_size))
    stride = list(_pair(stride)) if stride not in (None, [], ()) else kernel
    return _MaxPoolNHWC.apply(x, kernel, stride, list(_pair(padding)), list(_pair(dilation)), ceil_mode)[0]


class ChannelsLastMaxPool(TorchFunctionMode):
    """Within this context, ``F.max_pool2d`` of a 4-D NCHW CPU tensor under autograd (no indices
    returned) runs as `max_pool2d_nhwc`; every other call is PyTorch's own."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _MAX_POOLS and _applies(args, kwargs):
            names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
            given = {**dict(zip(names, args[1:], strict=False)), **kwargs}
            given.pop("return_indices", None)
            return max_pool2d_nhwc(args[0], **given)
        return func(*args, **kwargs)


def _applies(args: tuple, kwargs: dict) -> bool:
    x = args[0] if args else kwargs.get("input")
    return (isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dim() == 4
            and x.is_floating_point() and torch.is_grad_enabled() and x.requires_grad
            and not kwargs.get("return_indices", len(args) > 6 and args[6])
            and x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last))

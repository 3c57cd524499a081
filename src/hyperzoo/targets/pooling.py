"""2×2 max pooling for inference in channels-last layout, without PyTorch's index tensor.

PyTorch's CPU ``max_pool2d`` always runs ``max_pool2d_with_indices``, autograd or not: it
writes an int64 index for every output, twice the bytes of the output itself. In the
100-network ensemble on MNIST it took 26% of the time (the profiler, 2 threads); as two
elementwise maxima over the NHWC memory (rows, then columns) the same numbers came faster:
PyTorch's pooling took 1.044 ± 0.047 × the time (standard deviation over 20 back-to-back pairs
of 10 networks on 2,560 images; bench/pooling.py).

Inference only: under autograd ``torch.maximum`` splits the gradient between tied inputs where
``max_pool2d`` gives it all to one, and ties are common (a convolution over a blank
background gives its bias at every pixel).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch.overrides import TorchFunctionMode

MAX_POOLS = (F.max_pool2d, torch.max_pool2d)
_ARGUMENTS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


def max_pool_2x2_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` for ``x`` ``(B, C, H, W)`` in channels-last memory: the same values
    (NaN propagates as there), channels-last. An odd last row or column is dropped, as there."""
    h, w = x.shape[2:]
    rows = x.permute(0, 2, 3, 1)[:, : h // 2 * 2, : w // 2 * 2].unflatten(1, (h // 2, 2))  # B, h, 2, W, C
    half = torch.maximum(rows[:, :, 0], rows[:, :, 1]).unflatten(2, (w // 2, 2))  # B, h, w, 2, C
    # The result of a function of x (not out= into an empty tensor): diagnostics trace a ReLU
    # back to its layer through the functions' arguments.
    return torch.maximum(half[:, :, :, 0], half[:, :, :, 1]).permute(0, 3, 1, 2)


def _pair(v: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if v is None or (isinstance(v, Sequence) and len(v) == 0):  # torch.max_pool2d's stride=[]
        return None
    return tuple(v) if isinstance(v, Sequence) else (v, v)


def plain_2x2_input(args: tuple, kwargs: dict, layout: bool = True) -> torch.Tensor | None:
    """The input of a ``max_pool2d`` call that `max_pool_2x2_channels_last` computes, else None;
    without ``layout``, whatever the input's memory layout and device (a trial pass's)."""
    given = {**dict(zip(_ARGUMENTS, args, strict=False)), **kwargs}
    x = given.get("input")
    placed = not layout or (x.device.type == "cpu" and x.is_contiguous(memory_format=torch.channels_last))
    plain = (type(x) is torch.Tensor and x.dim() == 4 and x.is_floating_point() and placed
             and _pair(given.get("kernel_size")) == (2, 2) and _pair(given.get("stride")) in (None, (2, 2))
             and _pair(given.get("padding", 0)) == (0, 0) and _pair(given.get("dilation", 1)) == (1, 1)
             and not given.get("ceil_mode", False) and not given.get("return_indices", False))
    return x if plain else None


class IndexFreePooling(TorchFunctionMode):
    """Within it, with autograd off, plain 2×2 max pooling (kernel 2, stride 2, no padding,
    dilation or ceil mode, no indices returned) of a channels-last CPU tensor runs
    `max_pool_2x2_channels_last`; everything else as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MAX_POOLS and not torch.is_grad_enabled():
            x = plain_2x2_input(args, kwargs)
            if x is not None:
                return max_pool_2x2_channels_last(x)
        return func(*args, **kwargs)

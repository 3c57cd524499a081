"""Bias-free MLPs with batch norm, and the equalized output layer that lets them emit weights."""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn


class EqualizedLinear(nn.Module):
    """Bias-free linear layer with unit-scale weights and a fixed output gain.

    Adam moves every parameter by about the learning rate per step. Stored at unit scale
    (std 1/√in), the weights move in proportion to their size, and the gain sets the scale
    of what the layer emits (e.g. He scale √(2/fan_in) of a generated filter).
    """

    def __init__(self, in_features: int, out_features: int, gain: float,
                 generator: torch.Generator | None = None, bias: bool = False,
                 input_share: float = 1.0):
        super().__init__()
        std = input_share / math.sqrt(in_features)
        w = torch.randn(out_features, in_features, generator=generator) * std
        self.weight = nn.Parameter(w)
        # An optional bias, also at unit scale: one shared random network that the input
        # perturbs; ``input_share`` < 1 makes the input's part start smaller than that.
        self.bias = (nn.Parameter(torch.randn(out_features, generator=generator)
                                  * math.sqrt(1 - min(input_share, 1.0) ** 2))
                     if bias else None)
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight.t()
        if self.bias is not None:
            y = y + self.bias
        return y * self.gain

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, gain={self.gain:.4g}"


class Residual(nn.Sequential):
    """``x + f(x)`` for a hidden block ``f`` that keeps the width (a skip connection)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


def mlp(sizes: list[int], slope: float, out_gain: float | None = None, batch_norm: bool = True,
        skip: bool = False, code_share: float | None = None) -> nn.Sequential:
    """``sizes[0] → … → sizes[-1]``: Linear → BatchNorm → LeakyReLU on hidden layers, no biases.

    ``out_gain`` makes the output layer an `EqualizedLinear` with that gain (with
    ``code_share``, a learned bias and that share of the spread from the input); ``skip`` adds the
    input to every hidden block whose width it keeps (seed 003 §H's skip connections, no
    parameters); ``batch_norm=False`` leaves the hidden layers without batch norm.

    Without batch norm nothing restores the activations' scale, and PyTorch's default
    initialisation (variance 1/(3·fan_in)) shrinks it about 6-fold per leaky-ReLU layer: seed
    003's LeNet hypernetwork emitted weights at 1/60 of He scale and sat at chance for 450 steps.
    So there the hidden layers are He-initialised for the leaky ReLU (a residual block's at half
    that variance) and a plain output layer keeps its input's scale (variance 1/fan_in), as batch
    norm would have.
    """
    layers: list[nn.Module] = []
    for a, b in pairwise(sizes[:-1]):
        linear = nn.Linear(a, b, bias=False)
        residual = skip and a == b
        if not batch_norm:
            nn.init.kaiming_normal_(linear.weight, a=slope, nonlinearity="leaky_relu")
            if residual:  # x + f(x) with f at half of x's variance: 1.5× per block, not 2×
                linear.weight.data /= math.sqrt(2)
        block = [linear, *([nn.BatchNorm1d(b)] if batch_norm else []), nn.LeakyReLU(slope)]
        layers += [Residual(*block)] if residual else block
    a, b = sizes[-2], sizes[-1]
    out = (nn.Linear(a, b, bias=False) if out_gain is None else
           EqualizedLinear(a, b, out_gain, bias=code_share is not None,
                           input_share=1.0 if code_share is None else code_share))
    if out_gain is None and not batch_norm:
        nn.init.normal_(out.weight, std=1 / math.sqrt(a))
    layers.append(out)
    return nn.Sequential(*layers)

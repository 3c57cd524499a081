"""Normalizing flows for the variational baselines (MNF, Bayesian hypernetworks).

A flow here is a stack of masked affine coupling layers (the "masked RealNVP" of Louizos &
Welling and the coupling layers of Krueger et al.) whose masks alternate, so every feature is
transformed by some layer. Both methods only push samples forward through a flow, which for
coupling is one parallel pass, and need the log-determinant of that push.

Written here rather than taken from a flow library: zuko fitted (and the first MNF/BHN runs used
its masked autoregressive transform with two passes, the same architecture and parameter count),
but it is not among the packages a clean machine without internet can install, so CI could not
build the project with it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_LOG_2PI = math.log(2 * math.pi)
# Log-scales are squashed into (−BOUND, BOUND): one coupling scales a feature by at most e⁷,
# so a large conditioner output early in training cannot overflow the sample.
BOUND = 7.0


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_var)) summed over the last axis: a flow's base density."""
    return -0.5 * (_LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(-1)


def _bounded(raw: torch.Tensor) -> torch.Tensor:
    return raw / (1 + raw.abs() / BOUND)


class AffineCoupling(nn.Module):
    """y = m⊙x + (1−m)⊙(x·exp(s(m⊙x)) + t(m⊙x)) for a fixed binary mask m; the conditioner is
    one hidden ReLU layer, ``features → hidden → 2·features`` (shift and log-scale per feature;
    the entries of masked features are unused). Starts as the identity (last layer zero)."""

    def __init__(self, features: int, hidden: int, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.float(), persistent=False)
        self.hidden = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, 2 * features)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.mask.to(x.dtype)
        shift, raw = self.out(torch.relu(self.hidden(x * m))).chunk(2, dim=-1)
        log_scale = _bounded(raw) * (1 - m)
        return x * m + (1 - m) * (x * log_scale.exp() + shift), log_scale.sum(-1)


class ElementwiseAffine(nn.Module):
    """y = x·exp(s) + t with learned constants: the coupling of a one-feature flow."""

    def __init__(self):
        super().__init__()
        self.params = nn.Parameter(torch.zeros(2))  # shift, raw log-scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_scale = _bounded(self.params[1])
        return x * log_scale.exp() + self.params[0], log_scale.expand(x.shape[0]) * x.shape[-1]


class CouplingFlow(nn.Module):
    """``transforms`` affine coupling layers over ``features`` (zero layers: the identity).

    Layer i conditions on the first ⌈features/2⌉ features and transforms the rest, layer i+1 the
    other way round. Every layer starts as the identity, so a method's initial distribution is its
    base Gaussian, the one its initialisation was chosen for.
    """

    def __init__(self, features: int, transforms: int, hidden: int):
        super().__init__()
        self.features = features
        first = torch.arange(features) < (features + 1) // 2
        self.layers = nn.ModuleList(
            ElementwiseAffine() if features == 1
            else AffineCoupling(features, hidden, first if i % 2 == 0 else ~first)
            for i in range(transforms))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (N, features) → (y (N, features), log |det ∂y/∂x| (N,))."""
        ladj = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, step = layer(x)
            ladj = ladj + step
        return x, ladj

"""Normalizing flows for the variational baselines (MNF, Bayesian hypernetworks), from zuko.

A flow here is a stack of masked affine coupling layers (zuko's masked autoregressive transform
with two passes: the "masked RealNVP" of Louizos & Welling and the coupling layers of Krueger
et al.) whose orderings alternate, so every feature is transformed by some layer. Both methods
only push samples forward through a flow, which for coupling is one parallel pass, and need the
log-determinant of that push.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.flows.core import LazyComposedTransform

_LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_var)) summed over the last axis: a flow's base density."""
    return -0.5 * (_LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(-1)


class CouplingFlow(nn.Module):
    """``transforms`` affine coupling layers over ``features`` (zero layers: the identity).

    Each layer's conditioner ends in zeros, so the flow starts as the identity map: a method's
    initial distribution is its base Gaussian, the one its initialisation was chosen for.
    A one-feature layer is zuko's element-wise affine map with learned constants.
    """

    def __init__(self, features: int, transforms: int, hidden: int):
        super().__init__()
        self.features = features
        order = torch.arange(features)
        layers = [MaskedAutoregressiveTransform(features, passes=2, hidden_features=[hidden],
                                                order=order if i % 2 == 0 else order.flip(0))
                  for i in range(transforms)]
        for layer in layers:
            linears = [m for m in layer.modules() if isinstance(m, nn.Linear)]
            # The element-wise layer has no conditioner, only its constants.
            for p in linears[-1].parameters() if linears else layer.parameters():
                nn.init.zeros_(p)
        self.transform = LazyComposedTransform(*layers) if layers else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (N, features) → (y (N, features), log |det ∂y/∂x| (N,))."""
        if self.transform is None:
            return x, x.new_zeros(x.shape[0])
        return self.transform().call_and_ladj(x)

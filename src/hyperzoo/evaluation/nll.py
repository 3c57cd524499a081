"""Negative log-likelihood of the labels."""

from __future__ import annotations

import torch

# Probabilities are clamped here before the log, so one confident mistake costs at most
# -log(1e-12) ≈ 27.6 nats instead of infinity.
MIN_PROB = 1e-12


def nll(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean -log p(label) over the examples: ``probs`` (..., B, C), ``labels`` (B,) → (...).

    Pass (N, B, C) for one value per network, or the ensemble's mean (B, C) for its NLL.
    """
    picked = probs.gather(-1, labels.expand(*probs.shape[:-1])[..., None])[..., 0]
    return -picked.clamp_min(MIN_PROB).log().mean(-1)

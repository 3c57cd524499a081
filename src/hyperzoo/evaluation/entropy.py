"""Entropy of categorical predictions (nats)."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs
from hyperzoo.evaluation.predictions import mean_prediction


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy over the last (class) axis: ``(..., C)`` → ``(...)``, in nats; 0 log 0 = 0."""
    # xlogy, not p·log(max(p, ε)): a clamp weighs every tiny p by log ε and can reverse the
    # order of very confident inputs, which OOD scores rank.
    return -torch.special.xlogy(p, p).sum(-1)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the ensemble's mean prediction: ``probs`` (N, B, C) → (B,) in nats."""
    check_probs(probs, ensemble=True)
    return entropy(mean_prediction(probs))

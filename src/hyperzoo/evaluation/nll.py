"""Negative log-likelihood of the labels."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs

# Probabilities are clamped here before the log, so one confident mistake costs at most
# -log(1e-12) ≈ 27.6 nats instead of infinity.
MIN_PROB = 1e-12


def nll(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean -log p(label) over the examples: ``probs`` (..., B, C), ``labels`` (B,) → (...).

    Pass (N, B, C) for one value per network, or the ensemble's mean (B, C) for its NLL.
    """
    check_probs(probs, labels)
    labels = labels.long()  # gather takes int64 indices only
    picked = probs.gather(-1, labels.expand(*probs.shape[:-1])[..., None])[..., 0]
    # In float64: MIN_PROB underflows to 0 in half precision, and the log to infinity.
    return -picked.double().clamp_min(MIN_PROB).log().mean(-1).to(probs.dtype)

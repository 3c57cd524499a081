"""Disagreement of an ensemble's members: how often two networks predict different classes."""

from __future__ import annotations

import torch


def disagreement(probs: torch.Tensor) -> torch.Tensor:
    """Per input, the fraction of the N(N−1)/2 pairs of networks whose argmax classes differ.

    ``probs`` (N, B, C) → (B,), in [0, 1] (two networks on two classes can always disagree); its
    mean over inputs equals the mean over pairs of the fraction of inputs on which the pair
    disagrees. One network gives 0. Computed from vote counts: pairs that agree =
    Σ_c n_c(n_c − 1)/2, so cost is O(N B C), not O(N² B).
    """
    n = probs.shape[0]
    if n < 2:
        return torch.zeros(probs.shape[1], dtype=probs.dtype)
    pred = probs.argmax(-1).T  # (B, N)
    # Vote counts (B, C) without an (N, B, C) one-hot.
    votes = torch.zeros(pred.shape[0], probs.shape[-1], dtype=probs.dtype).scatter_add_(
        1, pred, torch.ones(pred.shape, dtype=probs.dtype))
    agree = (votes * (votes - 1)).sum(-1) / 2
    pairs = n * (n - 1) / 2
    return (pairs - agree) / pairs

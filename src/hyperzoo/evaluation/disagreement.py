"""Disagreement of an ensemble's members: how often two networks predict different classes."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs
from hyperzoo.evaluation.predictions import vote_counts


def disagreement(probs: torch.Tensor) -> torch.Tensor:
    """Per input, the fraction of the N(N−1)/2 pairs of networks whose argmax classes differ.

    ``probs`` (N, B, C) → (B,), in [0, 1] (two networks on two classes can always disagree); its
    mean over inputs equals the mean over pairs of the fraction of inputs on which the pair
    disagrees. One network gives 0. Computed from vote counts: pairs that agree =
    Σ_c n_c(n_c − 1)/2, so cost is O(N B C), not O(N² B).
    """
    check_probs(probs, ensemble=True)
    n = probs.shape[0]
    if n < 2:
        return probs.new_zeros(probs.shape[1])
    # A NaN network votes for no class: it agrees with no network, another NaN one included.
    # In float64: n_c (n_c - 1) overflows float16 from 256 networks, and bfloat16 rounds it.
    votes = vote_counts(probs).double()  # (B, C)
    agree = (votes * (votes - 1)).sum(-1) / 2
    pairs = n * (n - 1) / 2
    return ((pairs - agree) / pairs).to(probs.dtype)

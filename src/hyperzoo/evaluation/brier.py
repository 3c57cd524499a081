"""Brier score: squared error of the predicted distribution against the one-hot label."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs


def brier(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over examples of Σ_c (p_c − 1[c = label])²: ``probs`` (..., B, C), ``labels`` (B,) → (...).

    Summed over classes (range 0–2), as torch-uncertainty's ``BrierScore`` and scikit-learn's
    multiclass ``brier_score_loss`` (three or more classes; with two, scikit-learn scores the
    positive class alone, half of this); lower is better.
    """
    check_probs(probs, labels)
    onehot = torch.nn.functional.one_hot(labels.long(), probs.shape[-1]).to(probs.dtype)
    return ((probs - onehot) ** 2).sum(-1).mean(-1)

"""Predicted classes and votes, where a NaN output (a diverged network) predicts no class.

``argmax`` of a row of NaN is 0 (or the first NaN's index): a diverged network, or a mean over
networks one of which diverged, "predicted" class 0 everywhere, and accuracies came out as the
share of class 0 instead of a miss.
"""

from __future__ import annotations

import torch

NONE = -1  # the class a row holding NaN predicts: equal to no label


def predicted(probs: torch.Tensor) -> torch.Tensor:
    """``probs`` (..., C) → the argmax class (...), ``NONE`` where the row holds NaN."""
    return probs.argmax(-1).masked_fill(probs.isnan().any(-1), NONE)


def mean_prediction(probs: torch.Tensor) -> torch.Tensor:
    """The ensemble's mean prediction: ``probs`` (N, B, C) → (B, C), in at least float32 (a
    mean of 200 bfloat16 networks rounded to bfloat16 tied and flipped argmaxes: 3 of 100)."""
    return probs.mean(0, dtype=torch.promote_types(probs.dtype, torch.float32))


def vote_counts(probs: torch.Tensor) -> torch.Tensor:
    """How many of the N networks vote for each class: ``probs`` (N, B, C) → (B, C) (int64); a
    network whose row holds NaN votes for none. Counted without an (N, B, C) one-hot: a NaN
    network's vote goes to an extra column 0, dropped."""
    pred = predicted(probs).T + 1  # (B, N)
    votes = torch.zeros(pred.shape[0], probs.shape[-1] + 1, dtype=torch.int64, device=probs.device)
    return votes.scatter_add_(1, pred, torch.ones_like(pred))[:, 1:]


def majority(probs: torch.Tensor) -> torch.Tensor:
    """The class with the most votes of the N networks: ``probs`` (N, B, C) → (B,); ties go to
    the lowest class, ``NONE`` where no network voted (all of them NaN)."""
    votes = vote_counts(probs)
    return votes.argmax(-1).masked_fill(votes.sum(-1) == 0, NONE)

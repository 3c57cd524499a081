"""Mutual information between the prediction and the network (epistemic uncertainty)."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.entropy import entropy


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the mean prediction minus the mean entropy of the networks' predictions.

    ``probs`` (N, B, C) → (B,), in nats: 0 when all N networks predict the same distribution
    (whatever its entropy), at most log min(N, C). One network gives 0 everywhere.
    """
    return (entropy(probs.mean(0)) - entropy(probs).mean(0)).clamp_min(0.0)

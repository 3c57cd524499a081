"""Mutual information between the prediction and the network (epistemic uncertainty)."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs
from hyperzoo.evaluation.entropy import entropy


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the mean prediction minus the mean entropy of the networks' predictions.

    ``probs`` (N, B, C) → (B,), in nats: 0 when all N networks predict the same distribution
    (whatever its entropy), at most log min(N, C). One network gives 0 everywhere.
    """
    # In float64: the difference of two nearly equal entropies (identical networks) rounds to
    # 1e-7 rather than 0 in float32, noise that ranks near-zero scores.
    check_probs(probs, ensemble=True)
    p = probs.double()
    return (entropy(p.mean(0)) - entropy(p).mean(0)).clamp_min(0.0).to(probs.dtype)

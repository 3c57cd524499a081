"""Out-of-distribution detection by predictive entropy (seed 002 §5).

Scores are higher for inputs believed out of distribution; outliers are the positive class.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the ensemble's mean prediction: ``probs`` (N, B, C) → (B,) in nats."""
    mean = probs.mean(0)
    return -(mean * mean.clamp_min(1e-12).log()).sum(-1)


def detection_metrics(inlier_scores: torch.Tensor, outlier_scores: torch.Tensor) -> dict[str, float]:
    """AUROC, AUPR (outliers positive) and the false-positive rate at 95% true-positive rate."""
    if len(inlier_scores) == 0 or len(outlier_scores) == 0:
        raise ValueError("detection metrics need at least one inlier and one outlier score")
    scores = torch.cat([inlier_scores, outlier_scores]).double().numpy()
    labels = np.concatenate([np.zeros(len(inlier_scores)), np.ones(len(outlier_scores))])
    fpr, tpr, _ = roc_curve(labels, scores)
    return {"auroc": float(roc_auc_score(labels, scores)),
            "aupr": float(average_precision_score(labels, scores)),
            "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr, 0.95, side="left")])}

"""Out-of-distribution detection by predictive entropy (seed 002 §5) and mutual information.

Scores are higher for inputs believed out of distribution; outliers are the positive class.
"""

from __future__ import annotations

import numpy as np
import torch

from hyperzoo.errors import RunError
from hyperzoo.evaluation.entropy import predictive_entropy
from hyperzoo.evaluation.mutual_information import mutual_information

POSITIVE_CLASS = "outliers"

# Each score of an input from the N networks' predictions (N, B, C) → (B,): total uncertainty
# (entropy of the mean) and its epistemic part (mutual information; 0 for a single network).
SCORES = {"entropy": predictive_entropy, "mutual_information": mutual_information}


def ood_scores(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every score in SCORES of ``probs`` (N, B, C): name → (B,)."""
    return {name: fn(probs) for name, fn in SCORES.items()}


def auroc_standard_error(auroc: float, positives: int, negatives: int) -> float | None:
    """The standard error of an AUROC estimated from ``positives`` and ``negatives`` scores (Hanley
    & McNeil 1982, exponential approximation): 300 against 300 at AUROC 0.9 is about ±0.013, so
    two runs' AUROCs 0.02 apart on such sets are not two results. None at an AUROC of 0 or 1,
    where the approximation gives 0 whatever the counts (3 against 3 printed "1.000 ± 0.000")."""
    if auroc in (0.0, 1.0):
        return None
    a = auroc
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = ((a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a))
           / (positives * negatives))
    return max(var, 0.0) ** 0.5


def detection_metrics(inlier_scores: torch.Tensor, outlier_scores: torch.Tensor) -> dict[str, float]:
    """AUROC (with its standard error), AUPR (outliers positive) and the false-positive rate at
    95% true-positive rate."""
    # Imported here: scikit-learn took about 1 s of every command that imports the evaluation
    # package, `hyperzoo evaluate` among them, which never ranks outliers.
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    if len(inlier_scores) == 0 or len(outlier_scores) == 0:
        raise ValueError("detection metrics need at least one inlier and one outlier score")
    nan = int(inlier_scores.isnan().sum() + outlier_scores.isnan().sum())
    if nan:  # sklearn raised "Input contains NaN" after every prediction had been made
        raise RunError(f"{nan} of {len(inlier_scores) + len(outlier_scores)} detection scores are NaN: "
                       "a network's outputs hold NaN (it diverged), so inputs cannot be ranked; score "
                       "networks that did not diverge")
    scores = torch.cat([inlier_scores, outlier_scores]).double().cpu().numpy()
    labels = np.concatenate([np.zeros(len(inlier_scores)), np.ones(len(outlier_scores))])
    # Every threshold: dropping collinear points (sklearn's default) can skip the first one at
    # 95% TPR where scores tie, and report the next, larger FPR.
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    auroc = float(roc_auc_score(labels, scores))
    return {"auroc": auroc, "auroc_se": auroc_standard_error(auroc, len(outlier_scores), len(inlier_scores)),
            "aupr": float(average_precision_score(labels, scores)),
            "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr, 0.95, side="left")])}


def detection_by_score(inlier_scores: dict[str, torch.Tensor], outlier_scores: dict[str, torch.Tensor]
                       ) -> dict[str, dict[str, float]]:
    """``detection_metrics`` for each score name, with the mean score of each set."""
    return {name: {**detection_metrics(inlier_scores[name], outlier_scores[name]),
                   "mean_inliers": inlier_scores[name].mean().item(),
                   "mean_outliers": outlier_scores[name].mean().item()}
            for name in inlier_scores}

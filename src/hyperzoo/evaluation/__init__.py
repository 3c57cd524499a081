"""Evaluation of weight batches: predictions, ensemble accuracy and uncertainty metrics.

Every metric takes class probabilities ``probs`` (N, B, C) (N networks, B inputs, C classes) or
(B, C) and integer labels (B,).
"""

from hyperzoo.evaluation.aurc import aurc
from hyperzoo.evaluation.brier import brier
from hyperzoo.evaluation.calibration import ece, reliability_bins
from hyperzoo.evaluation.disagreement import disagreement
from hyperzoo.evaluation.ensembles import ensemble_metrics, predict_proba
from hyperzoo.evaluation.entropy import entropy, predictive_entropy
from hyperzoo.evaluation.mutual_information import mutual_information
from hyperzoo.evaluation.nll import nll
from hyperzoo.evaluation.uncertainty import uncertainty_metrics

__all__ = ["aurc", "brier", "disagreement", "ece", "ensemble_metrics", "entropy", "mutual_information",
           "nll", "predict_proba", "predictive_entropy", "reliability_bins", "uncertainty_metrics"]

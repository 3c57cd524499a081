"""Evaluation of weight batches: predictions, ensemble accuracy and uncertainty metrics.

Classification metrics take class probabilities ``probs`` (N, B, C) (N networks, B inputs,
C classes) and integer labels (B,): nll, brier, ece, aurc also (B, C) (one network, or an
ensemble's mean); disagreement, mutual_information, predictive_entropy (N, B, C) only. Logits,
other shapes, labels beyond the classes raise ``ValueError``. `regression_metrics` takes
predictions (N, B) or (N, B, 1).
"""

from hyperzoo.evaluation.aurc import aurc
from hyperzoo.evaluation.brier import brier
from hyperzoo.evaluation.calibration import ece, reliability_bins
from hyperzoo.evaluation.disagreement import disagreement
from hyperzoo.evaluation.ensembles import ensemble_metrics, predict, predict_proba
from hyperzoo.evaluation.entropy import entropy, predictive_entropy
from hyperzoo.evaluation.mutual_information import mutual_information
from hyperzoo.evaluation.nll import nll
from hyperzoo.evaluation.regression import regression_metrics
from hyperzoo.evaluation.uncertainty import uncertainty_metrics

__all__ = ["aurc", "brier", "disagreement", "ece", "ensemble_metrics", "entropy", "mutual_information",
           "nll", "predict", "predict_proba", "predictive_entropy", "regression_metrics", "reliability_bins",
           "uncertainty_metrics"]

"""Evaluation of weight batches: predictions and ensemble metrics."""

from hyperzoo.evaluation.ensembles import ensemble_metrics, predict_proba

__all__ = ["ensemble_metrics", "predict_proba"]

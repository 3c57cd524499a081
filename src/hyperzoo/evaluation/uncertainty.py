"""All uncertainty metrics of N networks and of their mean-probability ensemble, in one dict."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.aurc import aurc
from hyperzoo.evaluation.brier import brier
from hyperzoo.evaluation.calibration import BINS, ece
from hyperzoo.evaluation.disagreement import disagreement
from hyperzoo.evaluation.mutual_information import mutual_information
from hyperzoo.evaluation.nll import nll
from hyperzoo.evaluation.predictions import mean_prediction

METRICS = {"nll": nll, "brier": brier, "ece": ece, "aurc": aurc}


def uncertainty_metrics(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> dict[str, float]:
    """``probs`` (N, B, C), ``labels`` (B,).

    For each of nll, brier, ece, aurc: ``mean_<m>`` and ``std_<m>`` over the N single networks
    (std 0 for one network) and ``ensemble_<m>`` of the mean prediction; ``disagreement`` (mean
    pairwise fraction of differing argmax) and ``mutual_information`` (mean over inputs, nats) of
    the ensemble; ``ece_bins``.
    """
    n = probs.shape[0]
    mean_probs = mean_prediction(probs)
    out: dict[str, float] = {}
    for name, fn in METRICS.items():
        single = fn(probs, labels, bins) if name == "ece" else fn(probs, labels)  # (N,)
        out[f"mean_{name}"] = single.mean().item()
        out[f"std_{name}"] = single.std().item() if n > 1 else 0.0
        out[f"ensemble_{name}"] = (fn(mean_probs, labels, bins) if name == "ece"
                                   else fn(mean_probs, labels)).item()
    out["disagreement"] = disagreement(probs).mean().item()
    out["mutual_information"] = mutual_information(probs).mean().item()
    out["ece_bins"] = bins
    return out

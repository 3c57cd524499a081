"""Polyak distillation (seed 003 §4.4): K sampled networks averaged into one.

Polyak–Ruppert averaging averages the iterates of an optimiser; seed 003 averages ancestral
samples of the hypernetwork instead. The average is taken in *gauge-fixed* coordinates by
default: two samples that differ by a trivial symmetry (a filter scaled up by c and its
readers down by c, or a conv's scale in front of batch norm) are the same function, but their
raw average is not — it depends on which representative each sample happens to be. Fixing the
scale gauge first averages one representative per function. Permutations are not fixed:
samples of one continuous generator keep their filters in corresponding order. The averaged
network's batch-norm statistics are recomputed (averaging the samples' statistics would not
give the averaged network's).
"""

from __future__ import annotations

from typing import Literal

import torch

from hyperzoo.evaluation import predict_proba
from hyperzoo.evaluation.predictions import predicted
from hyperzoo.symmetry import gauge_fix
from hyperzoo.targets import TargetNet, estimate_bn_statistics
from hyperzoo.weights import WeightBatch

Coordinates = Literal["gauge", "raw"]


@torch.no_grad()
def polyak_average(target: TargetNet, weights: WeightBatch, coordinates: Coordinates = "gauge",
                   statistics_x: torch.Tensor | None = None, bn_batch: int = 256) -> WeightBatch:
    """One network ``(1, *shape)``: the mean of the N networks of ``weights`` in ``coordinates``
    (``"gauge"``: after `gauge_fix`; ``"raw"``: as generated); a batch-norm target's running
    statistics come from one pass over ``statistics_x``."""
    if coordinates not in ("gauge", "raw"):
        raise ValueError(f"coordinates {coordinates!r} is not one of 'gauge', 'raw'")
    params = {k: weights[k] for k in target.param_shapes}
    if coordinates == "gauge":
        params = {k: v for k, v in gauge_fix(target, params).items() if k in target.param_shapes}
    mean = {k: v.mean(0, keepdim=True) for k, v in params.items()}
    if target.has_statistics:
        if statistics_x is None:
            raise ValueError("a batch-norm target's averaged network needs training images "
                             "(statistics_x) for its running statistics")
        mean = estimate_bn_statistics(target, mean, statistics_x, bn_batch)
    return mean


@torch.no_grad()
def polyak_accuracies(target: TargetNet, weights: WeightBatch, x: torch.Tensor, y: torch.Tensor,
                      coordinates: Coordinates = "gauge", statistics_x: torch.Tensor | None = None,
                      bn_batch: int = 256) -> dict[str, float]:
    """Accuracy on ``(x, y)`` before (the K networks: mean single accuracy, mean-probability
    ensemble) and after (the one averaged network) distillation. ``weights`` carry their
    statistics already where the target has batch norm."""
    probs = predict_proba(target, weights, x)  # (K, B, C)
    avg = polyak_average(target, weights, coordinates, statistics_x, bn_batch)
    single = predict_proba(target, avg, x)[0]
    return {
        "networks": probs.shape[0],
        "coordinates": coordinates,
        "mean_single_accuracy": (predicted(probs) == y).double().mean().item(),
        "ensemble_accuracy": (predicted(probs.mean(0)) == y).double().mean().item(),
        "polyak_accuracy": (predicted(single) == y).double().mean().item(),
    }

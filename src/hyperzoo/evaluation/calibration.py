"""Top-label calibration: expected calibration error (ECE) and reliability-diagram bins."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs

BINS = 15


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> dict[str, torch.Tensor]:
    """Equal-width bins of top-label confidence: ``probs`` (..., B, C), ``labels`` (B,).

    Bin i holds the inputs whose confidence (max probability) lies in (i/bins, (i+1)/bins]; bin 0
    also holds 0 (Guo et al. 2017). Returns ``count`` (float64), ``confidence`` (mean confidence)
    and ``accuracy`` (fraction whose argmax is the label), each (..., bins); empty bins have
    count 0 and confidence and accuracy 0.
    """
    if bins < 1:
        raise ValueError(f"calibration needs at least one bin, got {bins}")
    check_probs(probs, labels)
    conf, pred = probs.max(-1)
    correct = (pred == labels).to(conf.dtype)
    # i / bins divided in conf's dtype: the nearest value to each edge. linspace in float32 put
    # some edges one step low (0.59999996 for 9/15), so a confidence of exactly 0.6 (3 of 5
    # saturated networks agreeing) fell into the bin above.
    inner = torch.arange(1, bins, dtype=conf.dtype, device=conf.device) / bins
    # right=False: index i with inner[i-1] < conf <= inner[i], i.e. the bin (i/bins, (i+1)/bins].
    index = torch.bucketize(conf.contiguous(), inner)
    # Sums in float64: a float32 count stops at 2^24 (a pooled diagram of 1,700 networks on
    # 10,000 images has more), and a float32 sum of confidences drifts long before.
    zeros = conf.new_zeros((*conf.shape[:-1], bins), dtype=torch.float64)
    count = zeros.scatter_add(-1, index, torch.ones_like(conf, dtype=torch.float64))
    total_conf = zeros.scatter_add(-1, index, conf.double())
    total_acc = zeros.scatter_add(-1, index, correct.double())
    safe = count.clamp_min(1)
    return {"count": count, "confidence": (total_conf / safe).to(conf.dtype),
            "accuracy": (total_acc / safe).to(conf.dtype)}


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """Expected calibration error, top label, equal-width bins: Σ_i (n_i / B) |acc_i − conf_i|.

    ``probs`` (..., B, C), ``labels`` (B,) → (...), in [0, 1]. The quantity of torchmetrics'
    ``multiclass_calibration_error(norm="l1")`` but for the bins' edges: its bins are
    [i/bins, (i+1)/bins), so a confidence on an edge (0.6 of 5 saturated networks agreeing, or
    1.0) falls one bin higher there.
    """
    b = reliability_bins(probs, labels, bins)
    weight = b["count"] / b["count"].sum(-1, keepdim=True)
    return (weight * (b["accuracy"] - b["confidence"]).abs().double()).sum(-1).to(probs.dtype)

"""Top-label calibration: expected calibration error (ECE) and reliability-diagram bins."""

from __future__ import annotations

import torch

BINS = 15


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> dict[str, torch.Tensor]:
    """Equal-width bins of top-label confidence: ``probs`` (..., B, C), ``labels`` (B,).

    Bin i holds the inputs whose confidence (max probability) lies in (i/bins, (i+1)/bins]; bin 0
    also holds 0 (Guo et al. 2017). Returns ``count``, ``confidence`` (mean confidence) and
    ``accuracy`` (fraction whose argmax is the label), each (..., bins); empty bins have count 0
    and confidence and accuracy 0.
    """
    if bins < 1:
        raise ValueError(f"calibration needs at least one bin, got {bins}")
    conf, pred = probs.max(-1)
    correct = (pred == labels).to(conf.dtype)
    # i / bins divided in conf's dtype: the nearest value to each edge. linspace in float32 put
    # some edges one step low (0.59999996 for 9/15), so a confidence of exactly 0.6 (3 of 5
    # saturated networks agreeing) fell into the bin above.
    inner = torch.arange(1, bins, dtype=conf.dtype) / bins
    # right=False: index i with inner[i-1] < conf <= inner[i], i.e. the bin (i/bins, (i+1)/bins].
    index = torch.bucketize(conf.contiguous(), inner)
    shape = (*conf.shape[:-1], bins)
    count = torch.zeros(shape, dtype=conf.dtype).scatter_add_(-1, index, torch.ones_like(conf))
    total_conf = torch.zeros(shape, dtype=conf.dtype).scatter_add_(-1, index, conf)
    total_acc = torch.zeros(shape, dtype=conf.dtype).scatter_add_(-1, index, correct)
    safe = count.clamp_min(1)
    return {"count": count, "confidence": total_conf / safe, "accuracy": total_acc / safe}


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """Expected calibration error, top label, equal-width bins: Σ_i (n_i / B) |acc_i − conf_i|.

    ``probs`` (..., B, C), ``labels`` (B,) → (...), in [0, 1]. The same quantity as torchmetrics'
    ``multiclass_calibration_error(norm="l1")``, except that torchmetrics gives confidence exactly
    1.0 a bin of its own.
    """
    b = reliability_bins(probs, labels, bins)
    weight = b["count"] / b["count"].sum(-1, keepdim=True)
    return (weight * (b["accuracy"] - b["confidence"]).abs()).sum(-1)

"""Error and spread of N regression networks and of their mean prediction."""

from __future__ import annotations

import math

import torch

from hyperzoo.evaluation.checks import regression_inputs


def regression_metrics(preds: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``preds`` (N, B) (or (N, B, 1), as `predict` returns for a one-output target): each
    network's prediction per example; ``y`` (B,) the targets.

    RMSE of each network (mean, std, min, max over networks), of the ensemble (the networks'
    mean prediction), the mean predictive std (spread over networks), and the Gaussian NLL of
    the targets under N(mean, std² over networks) — per example, in nats; needs N ≥ 2.
    """
    preds, y = regression_inputs(preds, y)
    n = preds.shape[0]
    preds, y = preds.double(), y.double()
    rmse = (preds - y).pow(2).mean(1).sqrt()  # (N,)
    mean = preds.mean(0)
    out = {
        "n_networks": n,
        "mean_rmse": rmse.mean().item(),
        "std_rmse": rmse.std().item() if n > 1 else 0.0,
        "min_rmse": rmse.min().item(),
        "max_rmse": rmse.max().item(),
        "ensemble_rmse": (mean - y).pow(2).mean().sqrt().item(),
    }
    if n > 1:
        var = preds.var(0).clamp_min(1e-12)
        out["mean_predictive_std"] = var.sqrt().mean().item()
        out["ensemble_gaussian_nll"] = (0.5 * (math.log(2 * math.pi) + var.log() + (y - mean).pow(2) / var)
                                        ).mean().item()
    return out

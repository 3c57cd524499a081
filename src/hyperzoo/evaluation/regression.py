"""Error and spread of N regression networks and of their mean prediction."""

from __future__ import annotations

import math

import torch

from hyperzoo.evaluation.checks import regression_inputs


def gaussian_nll_text(metrics: dict) -> str:
    """The ensemble's Gaussian NLL of `regression_metrics` for people: in nats, or why it is
    infinite."""
    nll = metrics["ensemble_gaussian_nll"]
    if nll is None:
        return f"infinite (the networks agree exactly on {metrics['zero_spread_examples']} examples)"
    return f"{nll:.4f} nats"


def regression_metrics(preds: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``preds`` (N, B) (or (N, B, 1), as `predict` returns for a one-output target): each
    network's prediction per example; ``y`` (B,) the targets.

    RMSE of each network (mean, std, min, max over networks), of the ensemble (the networks'
    mean prediction), the mean predictive std (the networks' sample std, dividing by N − 1), and
    the Gaussian NLL of the targets under N(mean, that std²) — per example, in nats; needs N ≥ 2. Where the
    networks agree exactly on some example (zero spread: a collapsed generator, σ = 0) that NLL
    is infinite: None, with ``zero_spread_examples`` counting them.
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
        var = preds.var(0)
        out["mean_predictive_std"] = var.sqrt().mean().item()
        # A floor (1e-12 before) reported 1e-6 for no spread at all and an NLL of 10^12 nats,
        # a number that depended on the targets' units.
        zero = int((var == 0).sum())
        out["zero_spread_examples"] = zero
        out["ensemble_gaussian_nll"] = None if zero else (
            0.5 * (math.log(2 * math.pi) + var.log() + (y - mean).pow(2) / var)).mean().item()
    return out

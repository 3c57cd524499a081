"""Adversarial detection by predictive entropy (seed 002 §4.5).

Untargeted FGSM or PGD examples are crafted against an ensemble (its logits averaged, as the
seed fuses them) and scored by the predictive entropy of a *scoring* ensemble: a fresh one of
equal size for a generator of networks, the attacked one itself for a fixed ensemble. An
example is flagged when its entropy exceeds the threshold that flags ``fpr`` of clean examples.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hyperzoo.analysis.adversarial import fgsm, pgd
from hyperzoo.devices import weights_device
from hyperzoo.evaluation import predict_proba
from hyperzoo.evaluation.ood import detection_metrics, predictive_entropy
from hyperzoo.evaluation.predictions import predicted
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


def detection_rate(clean: torch.Tensor, adversarial: torch.Tensor, fpr: float = 0.05) -> float:
    """Fraction of ``adversarial`` scores above the lowest threshold that flags at most ``fpr`` of
    the ``clean`` scores: the (⌊fpr·B⌋ + 1)-th largest of the B clean scores. (The linearly
    interpolated (1 − fpr) quantile flagged 2 of 30 clean scores, 6.7%, at fpr 0.05.)"""
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    if bool(clean.isnan().any() | adversarial.isnan().any()):  # a NaN threshold flagged nothing
        return float("nan")
    allowed = math.floor(fpr * len(clean) + 1e-9)  # 1e-9: 0.29 * 100 is 28.999999999999996
    threshold = clean.double().sort(descending=True).values[allowed]
    return (adversarial.double() > threshold).double().mean().item()


def detect_adversarial(target: TargetNet, attacked: WeightBatch, scoring: WeightBatch,
                       x: torch.Tensor, y: torch.Tensor, eps: float, attack: str = "fgsm",
                       pgd_steps: int = 10, fpr: float = 0.05, chunk: int = 50,
                       bounds: tuple[float, float] = (0.0, 1.0), p_clean: torch.Tensor | None = None
                       ) -> dict[str, Any]:
    """Craft on ``attacked`` (N networks), score clean and adversarial ``x`` (B, ...) on ``scoring``.

    Returns AUROC/AUPR (adversarial = positive), the detection rate at ``fpr``, and how often
    the attack fools the attacked and the scoring ensemble (mean-probability prediction).
    ``p_clean``: ``scoring``'s probabilities on ``x`` (N, B, C) where the caller has them (one
    prediction for both attacks).
    """
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack {attack!r} is not one of 'fgsm', 'pgd'")

    def model(inputs: torch.Tensor) -> torch.Tensor:
        # fused logits (B, C), on the CPU like the images (the networks may be on a GPU)
        return target(attacked, inputs.to(weights_device(attacked))).mean(0).cpu()

    advs = []
    for i in range(0, len(x), chunk):  # bounds the (N, chunk, ...) activations kept for backward
        xb, yb = x[i:i + chunk], y[i:i + chunk]
        advs.append(fgsm(model, xb, yb, eps, *bounds, targeted=False) if attack == "fgsm"
                    else pgd(model, xb, yb, eps, pgd_steps, None, *bounds, targeted=False))
    adv = torch.cat(advs)
    with torch.no_grad():
        if p_clean is None:
            p_clean = predict_proba(target, scoring, x)
        p_adv = predict_proba(target, scoring, adv)
        # A fixed set scores on itself: the same prediction, made once.
        p_attacked = p_adv if scoring is attacked else predict_proba(target, attacked, adv)
        fooled_attacked = predicted(p_attacked.mean(0)) != y
    h_clean, h_adv = predictive_entropy(p_clean), predictive_entropy(p_adv)
    return {"attack": attack, "eps": eps, "examples": len(x),
            **detection_metrics(h_clean, h_adv),
            f"detection_rate_at_{round(100 * fpr)}_fpr": detection_rate(h_clean, h_adv, fpr),
            "error_attacked_ensemble": fooled_attacked.double().mean().item(),
            "error_scoring_ensemble": (predicted(p_adv.mean(0)) != y).double().mean().item(),
            "mean_entropy_clean": h_clean.mean().item(), "mean_entropy_adversarial": h_adv.mean().item()}

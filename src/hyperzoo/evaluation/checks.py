"""Checks of a metric's inputs: one clear error, not a plausible wrong number.

Logits passed where probabilities belong gave an NLL below zero, a Brier score above its range
and an ECE above 1 without a word; labels beyond the classes were binned as misses.
"""

from __future__ import annotations

import torch

# How far the class probabilities of one input may sum from 1: a float32 softmax over a
# thousand classes is within 1e-5; half precision within 1e-2.
SUM_TOLERANCE = {torch.float16: 2e-2, torch.bfloat16: 2e-2}
DEFAULT_SUM_TOLERANCE = 1e-3


def check_probs(probs: torch.Tensor, labels: torch.Tensor | None = None, *, ensemble: bool = False,
                what: str = "probs") -> None:
    """Raise ``ValueError`` unless ``probs`` holds class probabilities, ``(N, B, C)`` (with
    ``ensemble``) or ``(..., B, C)``, and ``labels`` (where given) ``B`` integer classes in
    ``0..C-1``. Inputs holding NaN (a diverged network) pass: the metric gives NaN, as it did
    before these checks; infinity does not (logits masked with -inf are still logits)."""
    if not probs.is_floating_point():
        raise ValueError(f"{what} must be floating-point class probabilities, got dtype {probs.dtype}")
    if probs.dim() != 3 and (ensemble or probs.dim() < 2):
        shapes = "(N, B, C)" if ensemble else "(..., B, C), e.g. (N, B, C) or (B, C)"
        raise ValueError(f"{what} must be {shapes} (networks, inputs, classes), got shape "
                         f"{tuple(probs.shape)}")
    if probs.numel() == 0:  # AURC crashed on it while NLL, Brier and ECE gave NaN
        raise ValueError(f"{what} has shape {tuple(probs.shape)}: no networks, inputs or classes to score")
    mask = ~probs.isnan().any(-1)
    finite = probs if bool(mask.all()) else probs[mask]  # the inputs without NaN
    if finite.numel():
        low = float(finite.min())
        sums = finite.sum(-1, dtype=torch.float64)
        off = float((sums - 1).abs().max())
        if not (low >= 0 and off <= SUM_TOLERANCE.get(probs.dtype, DEFAULT_SUM_TOLERANCE)):
            raise ValueError(
                f"{what} must be class probabilities (at least 0, summing to 1 over the last axis); "
                f"got a smallest value of {low:.4g} and sums from {float(sums.min()):.4g} to "
                f"{float(sums.max()):.4g}: logits? pass predict_proba(...), or softmax them")
    if labels is None:
        return
    b, c = probs.shape[-2], probs.shape[-1]
    if labels.dim() != 1 or labels.shape[0] != b:
        raise ValueError(f"labels must be ({b},), one per input of {what} {tuple(probs.shape)}; "
                         f"got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer classes, got dtype {labels.dtype}")
    if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < c):
        raise ValueError(f"labels must be classes 0..{c - 1} ({what} has {c}); got values from "
                         f"{int(labels.min())} to {int(labels.max())}")


def regression_inputs(preds: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``preds`` ``(N, B)`` or ``(N, B, 1)`` (a one-output target's, as `predict` returns) and
    ``y`` ``(B,)`` or ``(B, 1)``, as ``(N, B)`` and ``(B,)``; anything else raises ``ValueError``
    (``(N, B, 1)`` against ``(B,)`` broadcast to ``(N, B, B)``: wrong numbers, no error)."""
    p = preds[..., 0] if preds.dim() == 3 and preds.shape[-1] == 1 else preds
    t = y[:, 0] if y.dim() == 2 and y.shape[-1] == 1 else y
    if p.dim() != 2 or t.dim() != 1 or p.shape[1] != t.shape[0]:
        raise ValueError(f"regression metrics take predictions (N, B) (or (N, B, 1)) and targets (B,); got "
                         f"{tuple(preds.shape)} and {tuple(y.shape)}")
    return p, t

"""Ensembles of sampled networks: K ensembles of S networks, and accuracy vs ensemble size."""

from __future__ import annotations

import torch


def _votes_accuracy(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    votes = torch.nn.functional.one_hot(pred, num_classes).sum(0)  # (B, C); ties → lowest class
    return (votes.argmax(-1) == y).double().mean(-1)


def ensemble_accuracies(probs: torch.Tensor, y: torch.Tensor, size: int, count: int,
                        generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Accuracy of ``count`` ensembles of ``size`` networks drawn without replacement from
    the pool ``probs`` (N, B, C); returns ``mean_prob`` and ``majority`` accuracies (count,)."""
    n, _, c = probs.shape
    if not 1 <= size <= n:
        raise ValueError(f"ensemble size {size} must be between 1 and the pool size {n}")
    pred = probs.argmax(-1)  # (N, B)
    mean_prob, majority = [], []
    for _ in range(count):  # one ensemble at a time bounds memory at (size, B, C)
        idx = torch.randperm(n, generator=generator)[:size]
        mean_prob.append((probs[idx].mean(0).argmax(-1) == y).double().mean())
        majority.append(_votes_accuracy(pred[idx], y, c))
    return {"mean_prob": torch.stack(mean_prob), "majority": torch.stack(majority)}


def accuracy_vs_size(probs: torch.Tensor, y: torch.Tensor, sizes: list[int], count: int = 10,
                     generator: torch.Generator | None = None) -> list[dict[str, float]]:
    """Mean ± std over ``count`` random ensembles for each size (sizes above N are skipped)."""
    rows = []
    for size in sizes:
        if size > probs.shape[0]:
            continue
        acc = ensemble_accuracies(probs, y, size, count if size < probs.shape[0] else 1, generator)
        rows.append({"size": size,
                     **{f"{k}_mean": v.mean().item() for k, v in acc.items()},
                     **{f"{k}_std": (v.std().item() if v.numel() > 1 else 0.0)
                        for k, v in acc.items()}})
    return rows

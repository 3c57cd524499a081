"""Ensembles of sampled networks: K ensembles of S networks, and accuracy vs ensemble size."""

from __future__ import annotations

import torch

from hyperzoo.evaluation.checks import check_probs
from hyperzoo.evaluation.predictions import majority, mean_prediction, predicted


def ensemble_accuracies(probs: torch.Tensor, y: torch.Tensor, size: int, count: int,
                        generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Accuracy of ``count`` ensembles of ``size`` networks drawn without replacement from
    the pool ``probs`` (N, B, C); returns ``mean_prob`` and ``majority`` accuracies (count,).
    A network's NaN output makes its ensemble's mean NaN there (a miss) and gets no vote."""
    check_probs(probs, y, ensemble=True)  # labels (B, 1) broadcast to (B, B): another accuracy
    return _accuracies(probs, y, size, count, generator)


def _accuracies(probs: torch.Tensor, y: torch.Tensor, size: int, count: int,
                generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    n = probs.shape[0]
    if not 1 <= size <= n:
        raise ValueError(f"ensemble size {size} must be between 1 and the pool size {n}")
    return _of(probs, y, [torch.randperm(n, generator=generator)[:size] for _ in range(count)])


def _of(probs: torch.Tensor, y: torch.Tensor, ensembles: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Both accuracies of each ensemble (indices into the pool ``probs``)."""
    mean_prob, by_votes = [], []
    for idx in ensembles:  # one ensemble at a time bounds memory at (size, B, C)
        mean_prob.append((predicted(mean_prediction(probs[idx])) == y).double().mean())
        by_votes.append((majority(probs[idx]) == y).double().mean())
    return {"mean_prob": torch.stack(mean_prob), "majority": torch.stack(by_votes)}


def accuracy_vs_size(probs: torch.Tensor, y: torch.Tensor, sizes: list[int], count: int = 10,
                     generator: torch.Generator | None = None) -> list[dict[str, float]]:
    """Mean ± std over ``count`` random ensembles for each size (sizes above N are skipped); size 1
    over every network of the pool, so it is the pool's mean single accuracy (a draw of ``count``
    networks put a second "single network" figure beside it). The pool's own size is one draw,
    whose std is None: no spread was measured (0.0 read as a measured one). Draws of one pool
    overlap, the more so near its size, so their std understates independent ensembles'."""
    check_probs(probs, y, ensemble=True)
    rows = []
    for size in sizes:
        if size > probs.shape[0]:
            continue
        draws = count if size < probs.shape[0] else 1
        if size == 1:
            for _ in range(draws):  # the draws it took before: later sizes and sections draw as they did
                torch.randperm(probs.shape[0], generator=generator)
            acc = _of(probs, y, list(torch.arange(probs.shape[0])[:, None]))
        else:
            acc = _accuracies(probs, y, size, draws, generator)
        rows.append({"size": size, "draws": len(next(iter(acc.values()))),
                     **{f"{k}_mean": v.mean().item() for k, v in acc.items()},
                     **{f"{k}_std": (v.std().item() if v.numel() > 1 else None)
                        for k, v in acc.items()}})
    return rows

"""Diversity terms: the Kozachenko–Leonenko entropy estimator and its output-space variant."""

from __future__ import annotations

import math
from typing import Literal

import torch

Metric = Literal["euclidean", "l1"]


def nearest_neighbour_distances(x: torch.Tensor, metric: Metric = "euclidean",
                                block: int = 1024) -> torch.Tensor:
    """Distance from each row of ``x`` (N, D) to its nearest other row: ``(N,)``.

    Computed in row blocks so N in the tens of thousands fits in memory.
    """
    if metric not in ("euclidean", "l1"):
        raise ValueError(f"metric {metric!r} is not one of 'euclidean', 'l1'")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"the nearest-neighbour estimator needs at least 2 samples, got {n}")
    p = 2.0 if metric == "euclidean" else 1.0
    mins = []
    for start in range(0, n, block):
        rows = x[start:start + block]
        # Direct differences, not the Gram trick: close samples would lose all precision.
        d = torch.cdist(rows, x, p=p, compute_mode="donot_use_mm_for_euclid_dist")
        self_mask = torch.zeros_like(d, dtype=torch.bool)
        self_mask[torch.arange(rows.shape[0], device=d.device),
                  torch.arange(start, start + rows.shape[0], device=d.device)] = True
        mins.append(d.masked_fill(self_mask, math.inf).amin(dim=1))
    return torch.cat(mins)


def _log_unit_ball_volume(d: int, metric: Metric) -> float:
    if metric == "euclidean":
        return d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1)
    return d * math.log(2.0) - math.lgamma(d + 1)


def kl_entropy(x: torch.Tensor, d: int | None = None, metric: Metric = "euclidean",
               constants: bool = False, min_distance: float = 1e-10) -> torch.Tensor:
    """Kozachenko–Leonenko entropy estimate of samples ``x`` (N, D), a scalar.

    ``ψ(N) + d/N · Σ log εᵢ`` as in seed 000, with ``d`` the intrinsic dimension (dim z for
    a hypernetwork; defaults to D). ``constants=True`` adds ``-ψ(1) + log V_d`` to give the
    full estimator of differential entropy. Distances below ``min_distance`` (duplicate
    samples) are clamped so the estimate stays finite.
    """
    n, dim = x.shape
    d = dim if d is None else d
    eps = nearest_neighbour_distances(x, metric).clamp_min(min_distance)
    h = torch.special.digamma(torch.tensor(float(n), dtype=x.dtype)) \
        + d * eps.log().mean()
    if constants:
        h = h - torch.special.digamma(torch.tensor(1.0, dtype=x.dtype)) \
            + _log_unit_ball_volume(d, metric)
    return h


def output_entropy(outputs: torch.Tensor, d: int, metric: Metric = "euclidean") -> torch.Tensor:
    """Entropy of the networks' outputs on a probe batch (seed 003 §3.2.3).

    ``outputs`` is ``(N, B, C)``; each network's outputs are concatenated into one vector,
    so networks that differ only by a symmetry have identical vectors.
    """
    return kl_entropy(outputs.reshape(outputs.shape[0], -1), d=d, metric=metric)

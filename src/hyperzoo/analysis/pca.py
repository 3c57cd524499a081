"""Principal components of sampled weights (seed 001 Fig. 9, Appendix A.8)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PCA:
    """``components`` (k, D), ``explained`` variance ratio (k,), ``scores`` (N, k)."""

    components: torch.Tensor
    explained: torch.Tensor
    scores: torch.Tensor


def pca(x: torch.Tensor, k: int = 5) -> PCA:
    """PCA of rows ``x`` (N, D) by SVD of the centred data."""
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"PCA needs at least 2 samples, got {n}")
    centred = x - x.mean(0)
    u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    var = s.pow(2)
    k = min(k, s.numel())
    return PCA(vh[:k], var[:k] / var.sum(), u[:, :k] * s[:k])

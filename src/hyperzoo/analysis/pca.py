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
    """PCA of rows ``x`` (N, D) by SVD of the centred data, at most N - 1 components (the
    centred rows span no more: a further one is rounding noise, drawn as a collapsed panel). Rows
    that are all equal have no variance to share out: every ratio is 0 then."""
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"PCA needs at least 2 samples, got {n}")
    centred = x - x.mean(0)
    u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    var = s.pow(2)
    k = min(k, s.numel(), n - 1)
    total = var.sum()
    explained = var[:k] / total if total > 0 else torch.zeros_like(var[:k])  # 0/0 was NaN
    return PCA(vh[:k], explained, u[:, :k] * s[:k])


def filter_vectors(target, weights, layer: int, unit: int = 0) -> torch.Tensor:
    """Filter ``unit`` of layer ``layer`` for every network, (N, filter_size): its weights, then
    its bias and normalisation scale/shift where the layer has them (seed 001's filter θ_{l,i},
    bias included)."""
    spec = target.layers[layer]
    parts = [weights[spec.weight][:, unit].flatten(1)]
    parts += [weights[name][:, unit, None] for name in spec.channel_params]
    return torch.cat(parts, 1)


def layer_vectors(target, weights, layer: int) -> torch.Tensor:
    """Every parameter of layer ``layer`` for every network, (N, num_weights), filter by filter."""
    spec = target.layers[layer]
    return torch.cat([filter_vectors(target, weights, layer, i) for i in range(spec.out_units)], 1)


def pca_views(target, weights, k: int = 5, unit: int = 0) -> dict:
    """Seed 001's PCA views (Fig. 6, 9–15) of a weight batch, by layer name: ``filter`` (filter
    ``unit`` of every layer), ``layer`` (every whole layer) and ``network`` (every weight)."""
    from hyperzoo.targets.target_net import layer_labels
    from hyperzoo.weights import flatten

    names = layer_labels(target.layers)
    return {"filter": {n: pca(filter_vectors(target, weights, i, unit).double(), k)
                       for i, n in enumerate(names)},
            "layer": {n: pca(layer_vectors(target, weights, i).double(), k) for i, n in enumerate(names)},
            "network": pca(flatten(weights).double(), k)}

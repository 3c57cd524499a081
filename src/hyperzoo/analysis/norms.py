"""Layer-wise weight norms of sampled networks (seed 002 Table 3)."""

from __future__ import annotations

from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


def layer_norms(target: TargetNet, weights: WeightBatch) -> dict[str, dict[str, float | None]]:
    """Mean, std and variance (σ², seed 002 Table 3's statistic) over networks of each layer's
    weight L2 norm (the Frobenius norm of its weight tensor; biases excluded). Sample std and
    variance (n − 1); None for one network, which has none (0 read as networks that agree)."""
    out = {}
    for layer in target.layers:
        norms = weights[layer.weight].flatten(1).norm(dim=1).double()
        var = norms.var().item() if norms.numel() > 1 else None
        std = None if var is None else var ** 0.5
        out[layer.name] = {"mean": norms.mean().item(), "std": std, "var": var}
    return out

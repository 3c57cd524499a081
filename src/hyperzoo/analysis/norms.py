"""Layer-wise weight norms of sampled networks (seed 002 Table 3)."""

from __future__ import annotations

from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


def layer_norms(target: TargetNet, weights: WeightBatch) -> dict[str, dict[str, float]]:
    """Mean and std over networks of each layer's weight L2 norm (biases excluded)."""
    out = {}
    for layer in target.layers:
        norms = weights[layer.weight].flatten(1).norm(dim=1).double()
        out[layer.name] = {"mean": norms.mean().item(),
                           "std": norms.std().item() if norms.numel() > 1 else 0.0}
    return out

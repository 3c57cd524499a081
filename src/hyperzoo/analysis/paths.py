"""Accuracy along paths in weight space (seed 001 §4, Fig. 7).

Direct path: G(z₁)·t + G(z₂)·(1 − t). Interpolated path: G(z₁·t + z₂·(1 − t)). If the
hypernetwork learned a curved manifold of good networks, the interpolated path stays accurate
while the direct (straight) path dips between its endpoints.
"""

from __future__ import annotations

import torch

from hyperzoo.evaluation import predict_proba
from hyperzoo.methods.base import LatentMethod
from hyperzoo.targets import estimate_bn_statistics


@torch.no_grad()
def path_accuracies(method: LatentMethod, x: torch.Tensor, y: torch.Tensor, pairs: int = 5,
                    points: int = 11, generator: torch.Generator | None = None,
                    statistics_x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``t`` (points,), and ``direct`` / ``interpolated`` accuracies (pairs, points).

    A batch-norm target's networks on both paths get their own running statistics from
    ``statistics_x`` (training images): interpolating statistics would not give a network's."""
    z1, z2 = method.noise(pairs, generator), method.noise(pairs, generator)
    t = torch.linspace(0, 1, points, device=z1.device)
    tt = t[None, :, None]
    z_path = (z1[:, None] * tt + z2[:, None] * (1 - tt)).reshape(pairs * points, -1)
    interpolated = method.generate(z_path)
    g1, g2 = method.generate(z1), method.generate(z2)
    direct = {}
    for k in g1:
        shape = (1, points) + (1,) * (g1[k].dim() - 1)
        mix = g1[k][:, None] * t.view(shape) + g2[k][:, None] * (1 - t.view(shape))
        direct[k] = mix.reshape(pairs * points, *g1[k].shape[1:])
    out = {"t": t.cpu()}
    for name, weights in (("direct", direct), ("interpolated", interpolated)):
        if method.target.has_statistics:
            if statistics_x is None:
                raise ValueError("paths on a batch-norm target need training images for statistics")
            weights = estimate_bn_statistics(method.target, weights, statistics_x)
        probs = predict_proba(method.target, weights, x)
        acc = (probs.argmax(-1) == y).double().mean(-1)
        out[name] = acc.reshape(pairs, points)
    return out

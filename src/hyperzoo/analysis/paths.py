"""Accuracy along paths in weight space (seed 001 §4, Fig. 7).

Direct path: G(z₁)·t + G(z₂)·(1 − t). Interpolated path: G(z₁·t + z₂·(1 − t)). If the
hypernetwork learned a curved manifold of good networks, the interpolated path stays accurate
while the direct (straight) path dips between its endpoints.
"""

from __future__ import annotations

import torch

from hyperzoo.evaluation import predict_proba
from hyperzoo.evaluation.predictions import predicted
from hyperzoo.methods.base import LatentMethod
from hyperzoo.targets import estimate_bn_statistics


def _accuracies(target, weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                statistics_x: torch.Tensor | None, bn_batch: int = 256) -> torch.Tensor:
    """Accuracy of each network of ``weights`` (N,); a batch-norm target's networks get their own
    running statistics from ``statistics_x`` in batches of ``bn_batch`` (the run's
    ``data.bn_batch``: the statistics average per-batch variances, so the batch size counts), as
    its pool's networks got theirs (interpolating statistics would not give a network's)."""
    if target.has_statistics:
        if statistics_x is None:
            raise ValueError("paths on a batch-norm target need training images for statistics")
        weights = estimate_bn_statistics(target, weights, statistics_x, batch=bn_batch)
    probs = predict_proba(target, weights, x)
    return (predicted(probs) == y).double().mean(-1)


def _straight(w1: dict[str, torch.Tensor], w2: dict[str, torch.Tensor], t: torch.Tensor
              ) -> dict[str, torch.Tensor]:
    """w1·t + w2·(1 − t) for every pair and point, flattened to (pairs · points, *shape)."""
    out = {}
    for k in w1:
        shape = (1, len(t)) + (1,) * (w1[k].dim() - 1)
        mix = w1[k][:, None] * t.view(shape) + w2[k][:, None] * (1 - t.view(shape))
        out[k] = mix.reshape(-1, *w1[k].shape[1:])
    return out


@torch.no_grad()
def direct_path_accuracies(target, w1: dict[str, torch.Tensor], w2: dict[str, torch.Tensor],
                           x: torch.Tensor, y: torch.Tensor, points: int = 11,
                           statistics_x: torch.Tensor | None = None, bn_batch: int = 256
                           ) -> dict[str, torch.Tensor]:
    """``t`` (points,) and ``direct`` accuracies (pairs, points) on the straight lines
    w1·t + w2·(1 − t) between two weight batches of ``pairs`` networks each (parameters only):
    the direct path of any method, one that has no latent space too (seed 001 Appendix I, MNFG)."""
    w1 = {k: w1[k] for k in target.param_shapes}
    w2 = {k: w2[k] for k in target.param_shapes}
    t = torch.linspace(0, 1, points, device=next(iter(w1.values())).device)
    acc = _accuracies(target, _straight(w1, w2, t), x, y, statistics_x, bn_batch)
    return {"t": t.cpu(), "direct": acc.reshape(-1, points)}


@torch.no_grad()
def path_accuracies(method: LatentMethod, x: torch.Tensor, y: torch.Tensor, pairs: int = 5,
                    points: int = 11, generator: torch.Generator | None = None,
                    statistics_x: torch.Tensor | None = None, bn_batch: int = 256
                    ) -> dict[str, torch.Tensor]:
    """``t`` (points,), and ``direct`` / ``interpolated`` accuracies (pairs, points).

    A batch-norm target's networks on both paths get their own running statistics from
    ``statistics_x`` (training images): interpolating statistics would not give a network's."""
    z1, z2 = method.noise(pairs, generator), method.noise(pairs, generator)
    t = torch.linspace(0, 1, points, device=z1.device)
    tt = t[None, :, None]
    z_path = (z1[:, None] * tt + z2[:, None] * (1 - tt)).reshape(pairs * points, -1)
    interpolated = method.generate(z_path)
    direct = _straight(method.generate(z1), method.generate(z2), t)
    out = {"t": t.cpu()}
    for name, weights in (("direct", direct), ("interpolated", interpolated)):
        out[name] = _accuracies(method.target, weights, x, y, statistics_x, bn_batch).reshape(pairs, points)
    return out


def _mean_std(v: torch.Tensor) -> dict[str, float]:
    v = v.double()
    return {"mean": v.mean().item(), "std": v.std().item() if v.numel() > 1 else 0.0}


def path_summary(paths: dict[str, torch.Tensor]) -> dict:
    """Per-pair numbers of ``path_accuracies`` output and their mean ± std (sample std, n − 1)
    over pairs: each path's accuracy at the midpoint (the point nearest t = 0.5), its dip there
    (mean of its two endpoints minus the midpoint; both paths share their endpoints), and the
    interpolated path's midpoint minus the direct one's. Without an ``interpolated`` path
    (``direct_path_accuracies``), the direct path's numbers only."""
    t, direct = paths["t"], paths["direct"].double()
    mid = int((t - 0.5).abs().argmin())
    ends = (direct[:, 0] + direct[:, -1]) / 2
    per_pair = {"endpoints": ends, "direct_midpoint": direct[:, mid], "direct_dip": ends - direct[:, mid]}
    if "interpolated" in paths:
        interp = paths["interpolated"].double()
        per_pair.update({"interpolated_midpoint": interp[:, mid], "interpolated_dip": ends - interp[:, mid],
                         "interpolated_minus_direct": interp[:, mid] - direct[:, mid]})
    return {"pairs": direct.shape[0], "midpoint_t": t[mid].item(), "std_over": "pairs (n − 1)",
            "per_pair": {k: v.tolist() for k, v in per_pair.items()},
            **{k: _mean_std(v) for k, v in per_pair.items()}}

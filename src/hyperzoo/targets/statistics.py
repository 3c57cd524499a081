"""Running statistics of sampled networks: one pass over training data (seed 003 §H).

A generated network has no running statistics of its own; like a network after training, it
gets them from a pass over the training data in train mode, every batch normalised with its
own statistics. The estimate is the mean over batches of each batch's mean and unbiased
variance, weighted by batch size (PyTorch's ``momentum=None`` cumulative average, up to the
weights of a shorter last batch). Batches are drawn in a fixed random order: a mean of batch
variances estimates the data's variance only where each batch is a random sample of it, and
data stored sorted by class gave batches of one class each (a review measured running
variances 7-10x too small on two sorted classes). All N networks see each batch together (the
target's batched path), each with its own statistics.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hyperzoo.targets.target_net import STAT_NAMES, TargetNet
from hyperzoo.weights import WeightBatch


@torch.no_grad()
def estimate_bn_statistics(target: TargetNet, weights: WeightBatch, data_x: torch.Tensor,
                           batch: int = 256, progress: Callable[[int], None] | None = None,
                           seed: int | None = 0) -> WeightBatch:
    """``weights`` (N networks) plus each network's running mean and variance ``(N, C)`` of
    every batch-norm layer, from one pass over ``data_x`` (B, ...) in batches of ``batch``, the
    examples in the order of a random permutation drawn from ``seed`` (None: their own order).

    ``progress(k)`` is called with the number of examples done. A target without batch norm
    gets its weights back unchanged."""
    params = {k: v for k, v in weights.items() if k in target.param_shapes}
    if not target.has_statistics:
        return params
    if len(data_x) == 0:
        raise ValueError("estimating batch-norm statistics needs at least one example")
    n = target.check(params)
    norms = target._norms
    saved = {name: (m.training, m.momentum) for name, m in norms.items()}
    like = params[next(iter(params))]
    sums = {k: like.new_zeros(n, *s)
            for k, s in target.stat_shapes.items()}
    try:
        for m in norms.values():
            # Momentum 1: each call leaves exactly that batch's statistics in the scratch buffers.
            m.train()
            m.momentum = 1.0
        done = 0
        order = (None if seed is None else
                 torch.randperm(len(data_x), generator=torch.Generator().manual_seed(seed)))
        for start in range(0, len(data_x), batch):
            # An index copies one batch at a time (the whole set may be CIFAR's 45,000 images).
            x = (data_x[start:start + batch] if order is None else
                 data_x[order[start:start + batch].to(data_x.device)]).to(like.device)
            if len(x) < 2:
                break  # one example has no variance (train-mode batch norm refuses it)
            stats, counters = target._statistics(params, n, x)
            target._apply({**params, **stats}, x, n, True, counters)
            for k in sums:
                sums[k] += stats[k] * len(x)
            done += len(x)
            if progress is not None:
                progress(done)
    finally:
        for name, m in norms.items():
            m.train(saved[name][0])
            m.momentum = saved[name][1]
    if done == 0:
        raise ValueError("estimating batch-norm statistics needs a batch of at least 2 examples")
    return {**params, **{k: v / done for k, v in sums.items()}}


__all__ = ["STAT_NAMES", "estimate_bn_statistics"]

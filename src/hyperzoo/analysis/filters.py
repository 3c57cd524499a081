"""Images of one filter across sampled networks (seed 001 Fig. 3)."""

from __future__ import annotations

import math

import torch

from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


class NoImageForm(ValueError):
    """A layer whose filters cannot be drawn as images (a Conv1d's)."""


def filter_images(target: TargetNet, weights: WeightBatch, layer: int, unit: int = 0,
                  channel: int = 0) -> torch.Tensor:
    """Input channel ``channel`` of filter ``unit`` of layer ``layer`` for every network:
    ``(N, h, w)``. A linear layer after a conv layer shows its weights on the previous
    layer's spatial grid (channel-major flatten), after a Conv1d as a row of that channel's
    positions; a linear layer on a vector, as a row."""
    spec = target.layers[layer]
    w = weights[spec.weight][:, unit]  # (N, in, *k) or (N, in)
    if w.dim() == 4:
        return w[:, channel]
    if w.dim() == 2:
        prev = target.layers[layer - 1] if layer > 0 else None
        # (After a global pool each channel is one input: the whole row is the picture.)
        if prev is not None and prev.kind == "conv" and spec.in_units % prev.out_units == 0 \
                and spec.in_units > prev.out_units:
            spatial = spec.in_units // prev.out_units
            per_channel = w.reshape(w.shape[0], prev.out_units, spatial)[:, channel]
            side = math.isqrt(spatial)
            if len(prev.weight_shape) == 4 and side * side == spatial:  # a Conv2d's square grid
                return per_channel.reshape(-1, side, side)
            return per_channel[:, None, :]  # a Conv1d's positions (or a grid that is not square)
        return w[:, None, :]
    raise NoImageForm(f"layer {spec.name!r} with weight shape {spec.weight_shape} has no image form")

"""Trivial symmetries of piecewise-linear targets, and gauges that remove them (seed 000 §2).

All functions take a `TargetNet` and a weight batch ``(N, *shape)`` and return a new batch.
They assume the target is a chain: layer l's filters feed only layer l+1, through
positively homogeneous, channel-wise operations (ReLU, leaky ReLU, max-pool, flatten in
channel-major order) — true for the papers' networks.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import torch

from hyperzoo.targets import LayerSpec, TargetNet
from hyperzoo.weights import WeightBatch

SortKey = Literal["sum", "bias", "norm"]


def _group(layer: LayerSpec, nxt: LayerSpec) -> int:
    """Inputs of ``nxt`` per filter of ``layer`` (spatial positions after a flatten)."""
    if nxt.in_units % layer.out_units:
        raise ValueError(f"layer {nxt.name!r} has {nxt.in_units} inputs, not a multiple of the "
                         f"{layer.out_units} filters of {layer.name!r}; cannot map its channels")
    return nxt.in_units // layer.out_units


def _filter_sq_norms(weights: WeightBatch, layer: LayerSpec) -> torch.Tensor:
    w = weights[layer.weight]
    sq = w.reshape(w.shape[0], layer.out_units, -1).pow(2).sum(-1)
    if layer.bias is not None:
        sq = sq + weights[layer.bias].pow(2)
    return sq  # (N, out_units)


def _scale_inputs(w: torch.Tensor, per_input: torch.Tensor) -> torch.Tensor:
    """Multiply input channel j of ``w`` (N, out, in, *k) by ``per_input[:, j]``."""
    n, j = per_input.shape
    return w * per_input.reshape(n, 1, j, *([1] * (w.dim() - 3)))


def scale_gauge(target: TargetNet, weights: WeightBatch) -> WeightBatch:
    """Rescale each filter of layers 1..m-1 to squared norm = its element count (bias included),
    un-scaling the matching inputs of the next layer, so outputs are unchanged."""
    out = dict(weights)
    for layer, nxt in pairwise(target.layers):
        sq = _filter_sq_norms(out, layer)
        # A dead (all-zero) filter has no scale to fix; leave it alone instead of dividing by 0.
        s = torch.where(sq > 0, (sq / layer.filter_size).sqrt(), torch.ones_like(sq))
        w = out[layer.weight]
        out[layer.weight] = w / s.reshape(*s.shape, *([1] * (w.dim() - 2)))
        if layer.bias is not None:
            out[layer.bias] = out[layer.bias] / s
        out[nxt.weight] = _scale_inputs(out[nxt.weight], s.repeat_interleave(_group(layer, nxt), 1))
    return out


def logit_bias_gauge(target: TargetNet, weights: WeightBatch) -> WeightBatch:
    """Shift the last layer's biases to sum to zero (softmax is invariant to the shift)."""
    last = target.layers[-1]
    if last.bias is None:
        return dict(weights)
    b = weights[last.bias]
    return {**weights, last.bias: b - b.mean(dim=1, keepdim=True)}


def gauge_fix(target: TargetNet, weights: WeightBatch) -> WeightBatch:
    """The gauge of seed 000: scale gauge, then logit-bias gauge."""
    return logit_bias_gauge(target, scale_gauge(target, weights))


def gauge_penalty(target: TargetNet, weights: WeightBatch) -> torch.Tensor:
    """Relaxed gauge G(θ) of seed 000 eq. 8, per network: ``(N,)``."""
    n = next(iter(weights.values())).shape[0]
    pen = weights[target.layers[0].weight].new_zeros(n)
    for layer in target.layers[:-1]:
        pen = pen + (_filter_sq_norms(weights, layer) - layer.filter_size).pow(2).sum(1)
    last = target.layers[-1]
    if last.bias is not None:
        pen = pen + weights[last.bias].sum(1).pow(2)
    return pen


def _sort_key(weights: WeightBatch, layer: LayerSpec, key: SortKey) -> torch.Tensor:
    w = weights[layer.weight].reshape(weights[layer.weight].shape[0], layer.out_units, -1)
    if key == "sum":
        total = w.sum(-1)
        return total + weights[layer.bias] if layer.bias is not None else total
    if key == "bias":
        if layer.bias is None:
            raise ValueError(f"sort key 'bias' needs biases, but layer {layer.name!r} has none")
        return weights[layer.bias]
    if key == "norm":
        return _filter_sq_norms(weights, layer)
    raise ValueError(f"sort key {key!r} is not one of 'sum', 'bias', 'norm'")


def permutation_canonical(target: TargetNet, weights: WeightBatch, key: SortKey = "sum"
                          ) -> WeightBatch:
    """Sort the filters of layers 1..m-1 by ``key`` (ascending), permuting the next layer's
    input channels to match, so networks that differ by a permutation coincide."""
    out = dict(weights)
    for layer, nxt in pairwise(target.layers):
        order = _sort_key(out, layer, key).argsort(dim=1, stable=True)  # (N, out)
        w = out[layer.weight]
        idx = order.reshape(*order.shape, *([1] * (w.dim() - 2))).expand_as(w)
        out[layer.weight] = w.gather(1, idx)
        if layer.bias is not None:
            out[layer.bias] = out[layer.bias].gather(1, order)
        g = _group(layer, nxt)
        nw = out[nxt.weight]
        n, o = nw.shape[:2]
        grouped = nw.reshape(n, o, layer.out_units, g, *nw.shape[3:])
        gidx = order.reshape(n, 1, layer.out_units, *([1] * (grouped.dim() - 3)))
        out[nxt.weight] = grouped.gather(2, gidx.expand_as(grouped)).reshape(nw.shape)
    return out


def check_gauge(target: TargetNet, what: str, probe: int = 4, rtol: float = 1e-4) -> None:
    """Raise `ConfigError` unless `scale_gauge` leaves the target's outputs unchanged.

    The gauges and MC-dropout masks assume a chain of positively homogeneous, channel-wise
    layers; GELU, tanh or a residual addition silently break them. Checked on a float64 copy
    of the module (eval mode) with its own initial weights on ``probe`` random inputs; ``what``
    names the setting that needs the gauge, for the message."""
    import copy

    from hyperzoo.errors import ConfigError

    module = copy.deepcopy(target.module).double().eval()
    t64 = TargetNet(module, target.input_shape, backend="loop")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(probe, *target.input_shape, generator=g, dtype=torch.float64)
    weights = t64.module_weights()
    with torch.no_grad():
        try:
            gauged = scale_gauge(t64, weights)
        except ValueError as e:  # channels of one layer cannot be mapped to the next
            raise ConfigError(f"{what} needs a chain of layers the gauge can follow ({e}); use "
                              "method.diversity: outputs (entropy of outputs) instead") from e
        y, yg = t64(weights, x), t64(gauged, x)
    err = (y - yg).abs().max().item() / max(y.abs().max().item(), 1e-12)
    if not err <= rtol:
        raise ConfigError(f"{what} assumes a chain of positively homogeneous layers (ReLU, leaky ReLU, "
                          f"max-pool), but rescaling the filters of target "
                          f"{type(target.module).__name__} changes its outputs (relative error "
                          f"{err:.1e}); use method.diversity: outputs (entropy of outputs) instead")

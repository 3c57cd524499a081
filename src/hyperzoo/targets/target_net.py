"""`TargetNet`: a read-only view of any ``nn.Module`` as a family of weight batches."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from hyperzoo.errors import ConfigError
from hyperzoo.weights import WeightBatch, batch_size

Backend = Literal["auto", "vmap", "loop"]

# Layer kinds whose parameters hyperzoo can split into filters (one output unit each).
_SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class LayerSpec:
    """One generated layer: a conv or linear module and how its weights split into filters."""

    name: str
    kind: str
    weight: str
    bias: str | None
    weight_shape: tuple[int, ...]

    @property
    def out_units(self) -> int:
        """Number of filters (conv out-channels or linear rows)."""
        return self.weight_shape[0]

    @property
    def in_units(self) -> int:
        """Input channels (conv) or input features (linear)."""
        return self.weight_shape[1]

    @property
    def fan_in(self) -> int:
        """Weights per filter, bias excluded."""
        return math.prod(self.weight_shape[1:])

    @property
    def filter_size(self) -> int:
        """Elements per filter, bias included (``n_{l,i}`` of seed 000)."""
        return self.fan_in + (self.bias is not None)

    @property
    def num_weights(self) -> int:
        return self.out_units * self.filter_size

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, num_weights) in filter-major order (each filter's weights, then its bias) →
        weight (N, *shape) and bias (N, out). The one layout every generator emits."""
        n = flat.shape[0]
        filters = flat.reshape(n, self.out_units, self.filter_size)
        weights = {self.weight: filters[..., :self.fan_in].reshape(n, *self.weight_shape)}
        if self.bias is not None:
            weights[self.bias] = filters[..., self.fan_in]
        return weights


def to_channels_last(t: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` or ``(N, B, C, H, W)``: every ``(B, C, H, W)`` slice in NHWC layout."""
    if t.dim() == 4:
        return t.to(memory_format=torch.channels_last)  # explicit NHWC strides even when C = 1
    return t.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


class TargetNet:
    """Parameter specs, filters and layer order of a module, and batched evaluation.

    The module is never modified: weights are supplied per call through
    ``torch.func.functional_call`` (``vmap`` over networks, or one call per network where
    that is faster: ``backend="auto"`` picks the loop on CPU). Layers are found in forward
    order by tracing one forward pass on zeros of ``input_shape`` (no batch axis).
    """

    def __init__(self, module: nn.Module, input_shape: tuple[int, ...], backend: Backend = "auto"):
        if backend not in ("auto", "vmap", "loop"):
            raise ConfigError(f"backend {backend!r} is not one of 'auto', 'vmap', 'loop'")
        self.module = module
        self.input_shape = tuple(input_shape)
        self.backend: Backend = backend
        self.layers: tuple[LayerSpec, ...] = self._trace_layers()
        self.param_shapes: dict[str, tuple[int, ...]] = {
            name: tuple(p.shape) for name, p in module.named_parameters()
        }
        self._buffers = dict(module.named_buffers())

    def _trace_layers(self) -> tuple[LayerSpec, ...]:
        owners = {}
        for mod_name, mod in self.module.named_modules():
            own = list(mod.named_parameters(recurse=False))
            if not own:
                continue
            if not isinstance(mod, _SUPPORTED):
                label = mod_name or "<root>"
                raise ConfigError(
                    f"layer {label!r} ({type(mod).__name__}) has parameters hyperzoo cannot "
                    "generate; supported layers are Linear and Conv1d/2d/3d"
                )
            owners[mod] = mod_name
        order: list[nn.Module] = []
        hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in owners]
        was_training = self.module.training
        try:
            self.module.eval()
            p = next(self.module.parameters())
            with torch.no_grad():
                self.module(torch.zeros(2, *self.input_shape, device=p.device, dtype=p.dtype))
        finally:
            for h in hooks:
                h.remove()
            self.module.train(was_training)
        seen: list[nn.Module] = []
        for m in order:
            if m in seen:
                raise ConfigError(f"layer {owners[m]!r} is called twice; shared layers are not supported")
            seen.append(m)
        unused = [owners[m] for m in owners if m not in seen]
        if unused:
            raise ConfigError(f"layers {unused} are never called in forward; cannot order them")
        specs = []
        for m in seen:
            name = owners[m]
            prefix = f"{name}." if name else ""
            specs.append(
                LayerSpec(
                    name=name,
                    kind="conv" if isinstance(m, nn.modules.conv._ConvNd) else "linear",
                    weight=prefix + "weight",
                    bias=prefix + "bias" if m.bias is not None else None,
                    weight_shape=tuple(m.weight.shape),
                )
            )
        return tuple(specs)

    @property
    def num_weights(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes.values())

    def check(self, weights: WeightBatch) -> int:
        """Validate names and shapes of a weight batch; return its size N."""
        missing = self.param_shapes.keys() - weights.keys()
        extra = weights.keys() - self.param_shapes.keys()
        if missing or extra:
            raise ValueError(f"weight batch names differ from the target: missing "
                             f"{sorted(missing)}, unexpected {sorted(extra)}")
        n = batch_size(weights)
        for name, shape in self.param_shapes.items():
            if tuple(weights[name].shape[1:]) != shape:
                raise ValueError(f"weights[{name!r}] has shape {tuple(weights[name].shape)}; "
                                 f"expected (N, {', '.join(map(str, shape))})")
        return n

    def __call__(self, weights: WeightBatch, x: torch.Tensor) -> torch.Tensor:
        """Evaluate N networks: ``x`` is ``(B, ...)`` (shared) or ``(N, B, ...)``; returns ``(N, B, ...)``."""
        n = self.check(weights)
        shared = x.shape[1:] == self.input_shape
        if not shared and not (x.dim() == len(self.input_shape) + 2 and x.shape[0] == n
                               and x.shape[2:] == self.input_shape):
            raise ValueError(f"input has shape {tuple(x.shape)}; expected (B, {self.input_shape}) "
                             f"or ({n}, B, {self.input_shape})")
        buffers = self._buffers

        def one(params: WeightBatch, xi: torch.Tensor) -> torch.Tensor:
            return functional_call(self.module, {**params, **buffers}, (xi,))

        # vmap is the reference; on a CPU one functional_call per network was measured faster
        # (bench/step_time.py), so "auto" loops there.
        loop = self.backend == "loop" or (self.backend == "auto" and x.device.type == "cpu")
        if loop:
            # Inference on CPU: 2-D convolutions ran 1.4-2.2x faster in channels-last layout on
            # every built-in target (bench/inference.py); with autograd it was mixed.
            if x.device.type == "cpu" and len(self.input_shape) == 3 and not torch.is_grad_enabled():
                x = to_channels_last(x)
                weights = {k: to_channels_last(v) if v.dim() == 5 else v for k, v in weights.items()}
            return torch.stack([one({k: v[i] for k, v in weights.items()}, x if shared else x[i])
                                for i in range(n)])
        # "different": a target with dropout draws an independent mask for every network.
        return torch.vmap(one, in_dims=(0, None if shared else 0), randomness="different")(
            dict(weights), x)

    def module_weights(self) -> WeightBatch:
        """The module's own parameters as a batch of one network."""
        return {k: p.detach().unsqueeze(0) for k, p in self.module.named_parameters()}

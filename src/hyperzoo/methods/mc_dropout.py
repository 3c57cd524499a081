"""Baseline: MC dropout (Gal & Ghahramani), one network whose samples are dropout masks.

A sampled network is the trained weights with every hidden unit (a filter of layers 1..m-1)
kept with probability 1 - p and scaled by 1/(1 - p), or zeroed: dropout of that unit's output,
with one mask per network rather than per example, which is dropout's weight-space view and
what the weight-batch interface needs. Zeroing a filter drops its unit, and scaling it scales
the unit's output, only where the unit reaches the next layer through positively homogeneous,
channel-wise ops (ReLU, leaky ReLU, pooling, flatten, batch norm, additions: the channel
spaces the scale gauge follows, `hyperzoo.symmetry.channel_spaces`) or ops that only move values
(view, concatenation, zero padding). A target where a hidden unit meets tanh, sigmoid, GELU or a
layer/group norm is refused, naming that op. Training draws one mask per
network of the noise batch.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.config import ConfigError, check_bounds
from hyperzoo.devices import bernoulli, per_network
from hyperzoo.methods.base import Method, own_parameters, param_key
from hyperzoo.notes import note
from hyperzoo.symmetry import GaugeUnavailable, channel_spaces, reads_shape_only, traced_graph
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class MCDropoutConfig:
    name: str = "mc_dropout"
    p: float = 0.5
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p < 1.0:
            raise ConfigError(f"config key 'method.p' = {self.p!r} must be in [0, 1)")
        check_bounds("method", self, at_least={"weight_decay": 0})


class MCDropout(Method):
    """One network, initialised as the target module initialises itself; samples drop units."""

    def __init__(self, target: TargetNet, config: MCDropoutConfig):
        super().__init__(target)
        check_masks_drop_units(target)
        self.config = config
        self.params = nn.ParameterDict({param_key(k): nn.Parameter(p)
                                        for k, p in own_parameters(target.module).items()})

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        if hasattr(self, "params"):  # built (`check_settings` asks a bare instance)
            own = [name for name, m in self.target.module.named_modules()
                   if isinstance(m, nn.modules.dropout._DropoutNd)]
            if own:  # a user choosing MC dropout for the dropout their model has got other masks
                note(f"method 'mc_dropout' samples its own masks (method.p = {self.config.p:g} on every "
                     f"hidden unit); your model's dropout ({', '.join(own[:4])}"
                     f"{' and more' if len(own) > 4 else ''}) acts in training only and is off in "
                     "sampled networks")

    def masks(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per hidden layer, ``(n, filters)``: 0 for a dropped unit, 1/(1 - p) for a kept one."""
        keep = 1.0 - self.config.p
        device = next(iter(self.params.values())).device
        hidden = self.target.layers[:-1]
        # One draw for all layers: network i's masks are the same whatever the number drawn.
        masks = per_network(n, [(layer.out_units,) for layer in hidden],
                            lambda shape: bernoulli(keep, shape, generator, device) / keep)
        return {layer.name: m for layer, m in zip(hidden, masks, strict=True)}

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        weights = {k: self.params[param_key(k)].expand(n, *s) for k, s in self.target.param_shapes.items()}
        masks = self.masks(n, generator)
        for layer in self.target.layers[:-1]:
            m = masks[layer.name]  # (n, out): a unit's weights, bias, norm scale and shift share it
            w = weights[layer.weight]
            weights[layer.weight] = w * m.view(n, -1, *[1] * (w.dim() - 2))
            for name in layer.channel_params:  # a norm after the layer would undo a masked filter
                weights[name] = weights[name] * m
        return weights

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        logits, ce = self.target.cross_entropy(self.sample(x.shape[0], generator), x, y)  # logits (N, M, C)
        loss = ce
        if self.config.weight_decay:
            loss = loss + self.config.weight_decay * sum(p.pow(2).sum() for p in self.params.values())
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy, "cross_entropy": ce.detach()}


# Ops that move, copy or pass on values without changing them: a unit zeroed or scaled before
# one of them is zeroed or scaled after it (a flatten by view, a concatenated skip, zero padding,
# the network's input or output joined by an addition).
_POSITION_METHODS = {"view", "reshape", "flatten", "unflatten", "permute", "transpose", "contiguous",
                     "unsqueeze", "squeeze", "chunk", "split"}
_POSITION_FUNCTIONS = {torch.cat, torch.concat, torch.flatten, torch.reshape, torch.permute, torch.transpose,
                       torch.squeeze, torch.unsqueeze, torch.chunk, torch.split, operator.getitem, getattr}
_POSITION_MODULES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d)


def _passes_units_on(node: torch.fx.Node | str, target: TargetNet) -> bool:
    if isinstance(node, str) or node.op in ("placeholder", "output"):
        return True  # "channel counts", the input, the output
    if node.op == "call_method":
        return node.target in _POSITION_METHODS
    if node.op == "call_module":
        return isinstance(target.module.get_submodule(node.target), _POSITION_MODULES)
    if node.op == "call_function" and node.target is F.pad:  # zero padding only
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value")
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        return mode == "constant" and not value
    return node.op == "call_function" and node.target in _POSITION_FUNCTIONS


def _describe(node: torch.fx.Node, target: TargetNet) -> str:
    if node.op == "call_module":
        return f"{node.target!r} ({type(target.module.get_submodule(node.target)).__name__})"
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    return f".{name}()" if node.op == "call_method" else f"{name}()"


def _reads_only(norm: str, layer: str, graph: torch.fx.Graph) -> bool:
    """Whether the norm's input comes from ``layer``'s output through one-input operations
    alone. A norm's scale and shift join the layer called just before it (`TargetNet.layers`), so
    masked with that layer's unit they drop the unit only there: a pre-activation block's norm
    reads a residual sum, and the mask zeroed every summand's part of the channel."""
    node = next((n for n in graph.nodes if n.op == "call_module" and n.target == norm), None)
    if node is None:  # a norm fx traced through (not a torch.nn leaf): the channel spaces decide
        return True
    while node.args and isinstance(node.args[0], torch.fx.Node):
        node = node.args[0]
        if node.op == "call_module" and node.target == layer:
            return True
        # A sum, a concatenation, the graph's input; not x.size(0) in x.view(x.size(0), -1).
        if len([a for a in node.all_input_nodes if not reads_shape_only(a)]) != 1:
            return False
    return False


def check_masks_drop_units(target: TargetNet) -> None:
    """Raise `ConfigError` unless masking a hidden layer's filters (and its norm's scale and
    shift) is dropout of its units: every channel space such a layer or norm produces must reach
    its readers through positively homogeneous, channel-wise ops (the scale gauge's spaces), or
    through ops that only move values (`_passes_units_on`), followed into the spaces they start."""
    masked = {name for layer in target.layers[:-1] for name in (layer.name, layer.norm) if name}
    try:
        spaces = channel_spaces(target)
    except GaugeUnavailable as e:
        raise ConfigError(f"method 'mc_dropout' needs the target's graph to check that its masks "
                          f"are dropout: {str(e).split(';')[0]}") from e
    for layer in target.layers[:-1]:
        if layer.norm and not _reads_only(layer.norm, layer.name, traced_graph(target)):
            raise ConfigError(
                f"method 'mc_dropout' drops a unit of {layer.name!r} with the scale and shift of "
                f"{layer.norm!r}, the norm called after it, but {layer.norm!r} reads more than "
                f"{layer.name!r}'s output (such as a residual sum before the norm, as in pre-activation "
                "blocks): the mask would zero the other inputs' part of the channel too; use a target "
                "whose norms each read one layer, or another method")
    for space in spaces:
        units = [p.name for p in space.producers if p.name in masked]
        todo, seen = [space] if units else [], set()
        while todo:
            sp = todo.pop()
            if id(sp) in seen:
                continue
            seen.add(id(sp))
            for node, onward in sp.fixed_by:
                if not _passes_units_on(node, target):
                    raise ConfigError(
                        f"method 'mc_dropout' drops a unit by zeroing its filter and scales kept ones by "
                        f"1/(1 - p), which is dropout only where the unit reaches the next layer through "
                        f"ReLU, leaky ReLU, pooling, batch norm, additions or reshapes; in target "
                        f"{type(target.module).__name__}, the output of {units[0]!r} reaches "
                        f"{_describe(node, target)}, which is not positively homogeneous or mixes channels")
                if onward is not None:
                    todo.append(onward)

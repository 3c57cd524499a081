"""Trivial symmetries of piecewise-linear targets, and gauges that remove them (seed 000 §2).

The gauges take a `TargetNet` and a weight batch ``(N, *shape)`` and return a new batch.

The scale gauge reads the module's graph (``torch.fx``): a *channel space* is a set of
activations whose channel c always scales together — a layer's outputs, carried through
positively homogeneous channel-wise operations (ReLU, leaky ReLU, max/average pooling,
dropout, flatten in channel-major order) and joined by additions (residual connections tie
every summand's channels). Its *producers* make its scale (conv/linear filters: weights and
bias; batch/group/layer-norm outputs: the channel's scale and shift); its *consumers* undo it
(the input channels of conv/linear layers), or ignore it (batch norm, which normalises each
channel: its running statistics, when the batch carries them, are rescaled to match). A space
is gauged when every producer and consumer is of these kinds; any other operation (the
network output, tanh, concatenation, group/layer norm inputs, a constant added) leaves it as
it is. On a chain without normalisation this is seed 000's gauge exactly. Spaces that reach
one another through their readers (residual blocks without normalisation) are gauged together,
to the minimum of a convex function of their scales (`_gauge_cycle`).

Batch norm makes a conv filter's scale irrelevant (the symmetry sits inside the layer): the
gauge then fixes each filter's norm. The network's function is unchanged exactly in train
mode and in eval mode with rescaled statistics, up to batch norm's ε (the normalisation
divides by sqrt(var + ε), not sqrt(var)).
"""

from __future__ import annotations

import copy
import math
import operator
import weakref
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import torch
import torch.fx
from torch import nn

from hyperzoo.errors import ConfigError
from hyperzoo.targets import LayerSpec, TargetNet
from hyperzoo.targets.target_net import kept_modes
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


class GaugeUnavailable(ConfigError):
    """The target's graph cannot be read, so no weight-space gauge can be applied."""


@dataclass(frozen=True)
class Producer:
    """Tensors whose channel c scales channel c of a space: ``(N, C, ...)`` each."""

    name: str  # a layer's or norm module's name
    tensors: tuple[str, ...]


@dataclass
class ChannelSpace:
    """Channels tied together (by homogeneous channel-wise operations and additions)."""

    channels: int | None = None
    producers: list[Producer] = field(default_factory=list)
    consumers: list[LayerSpec] = field(default_factory=list)  # their input channels undo a scale
    norms: list[str] = field(default_factory=list)  # batch norms reading the space (scale-free)
    fixed: bool = False  # something else reads or makes it: not gauged
    # What fixed it: each graph node that reads it (or made it) without commuting with a channel
    # scale, with the space that node's output starts (None: none followed), and ("channel
    # counts", None) where its members disagree. MC dropout follows them (`check_masks_drop_units`).
    fixed_by: list[tuple[torch.fx.Node | str, ChannelSpace | None]] = field(default_factory=list)
    filter_size: int = 0  # elements per channel over all producers: the squared norm set
    # A producer's bias read only by batch or instance norms, which subtract each channel's mean:
    # (bias, those norms). It changes nothing (in eval mode the running mean absorbs it).
    free_biases: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # Gauged spaces that reach each other through their consumers share a number (a residual
    # network without batch norm): they are gauged together (`_gauge_cycle`). None: alone.
    cycle: int | None = None

    @property
    def gauged(self) -> bool:
        return (not self.fixed and bool(self.producers)
                and bool(self.consumers or self.norms))


# Positively homogeneous, channel-wise operations: channel c of the output scales with channel c
# of the input.
_HOMOGENEOUS_MODULES = (nn.ReLU, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                        nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d,
                        nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                        nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Dropout, nn.Dropout1d,
                        nn.Dropout2d, nn.Dropout3d, nn.Identity, nn.Flatten)
_F = nn.functional
# The modules' functional twins (a test checks every module has one here).
_HOMOGENEOUS_FUNCTIONS = {_F.relu, torch.relu, _F.leaky_relu, _F.max_pool1d, _F.max_pool2d,
                          _F.max_pool3d, _F.avg_pool1d, _F.avg_pool2d, _F.avg_pool3d,
                          _F.adaptive_avg_pool1d, _F.adaptive_avg_pool2d, _F.adaptive_avg_pool3d,
                          _F.adaptive_max_pool1d, _F.adaptive_max_pool2d, _F.adaptive_max_pool3d,
                          _F.dropout, _F.dropout1d, _F.dropout2d, _F.dropout3d, torch.flatten}
_HOMOGENEOUS_METHODS = {"relu", "relu_", "flatten", "contiguous"}
_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add}
_ADD_METHODS = {"add", "add_"}
_PLANS: weakref.WeakKeyDictionary[TargetNet, list[ChannelSpace]] = weakref.WeakKeyDictionary()
_GRAPHS: weakref.WeakKeyDictionary[TargetNet, tuple[torch.fx.Graph, dict]] = weakref.WeakKeyDictionary()


def reads_shape_only(node: torch.fx.Node) -> bool:
    """``x.size(...)``, ``x.dim()``, ``x.shape`` (and ``x.shape[0]``): what the idiom
    ``x.view(x.size(0), -1)`` reads."""
    return ((node.op == "call_method" and node.target in ("size", "dim"))
            or (node.op == "call_function" and node.target is getattr and len(node.args) == 2
                and node.args[1] in ("shape", "ndim"))
            or (node.op == "call_function" and node.target is operator.getitem
                and isinstance(node.args[0], torch.fx.Node) and reads_shape_only(node.args[0])))


_REDUCTIONS = ("mean", "sum", "amax")


def _reduces_within_channels(node: torch.fx.Node) -> bool:
    """``x.mean((2, 3))``, ``x.sum(2)``, ``torch.amax(x, (2, 3))``: a global pooling written by
    hand, over dimensions after the channels (positive ones: a negative one may name the channels
    of a tensor of unknown rank). Channel c of the output scales with channel c of the input: it
    left the gauge's channels fixed, and MC dropout refused such a model."""
    if node.op == "call_method" and node.target in _REDUCTIONS:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    elif node.op == "call_function" and node.target in (torch.mean, torch.sum, torch.amax):
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    else:
        return False
    dims = (dims,) if isinstance(dims, int) else dims
    return (isinstance(dims, (tuple, list)) and len(dims) > 0
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 2 for d in dims))


def _flattens_per_example(node: torch.fx.Node) -> bool:
    """``x.view(x.size(0), -1)`` / ``x.reshape(x.shape[0], -1)``: a channel-major flatten of each
    example, as ``torch.flatten(x, 1)`` (the batch size is read from x itself)."""
    if not (node.op == "call_method" and node.target in ("view", "reshape") and len(node.args) == 3
            and node.args[2] == -1 and isinstance(node.args[1], torch.fx.Node)):
        return False
    size = node.args[1]  # x.size(0), or x.shape[0]
    if size.op == "call_method" and size.target == "size":
        return size.args[0] is node.args[0] and (size.args[1:] == (0,) or size.kwargs == {"dim": 0})
    return (size.op == "call_function" and size.target is operator.getitem and size.args[1] == 0
            and isinstance(size.args[0], torch.fx.Node) and reads_shape_only(size.args[0])
            and size.args[0].args[0] is node.args[0])


def channel_spaces(target: TargetNet) -> list[ChannelSpace]:
    """The target's channel spaces, from its ``torch.fx`` graph (cached per target).

    Raises `GaugeUnavailable` when the module cannot be traced symbolically (data-dependent
    control flow): output-space diversity (``method.diversity: outputs``) needs no gauge."""
    if target in _PLANS:
        return _PLANS[target]
    graph, shapes = _graph_and_shapes(target)
    layers = {s.name: s for s in target.layers}
    modules = dict(target.module.named_modules())
    parent: dict[int, int] = {}
    spaces: dict[int, ChannelSpace] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def new(fixed: bool = False) -> int:
        i = len(parent)
        parent[i] = i
        spaces[i] = ChannelSpace(fixed=fixed)
        return i

    def union(a: int, b: int) -> int:
        a, b = find(a), find(b)
        if a != b:
            sa, sb = spaces[a], spaces[b]
            sa.producers += sb.producers
            sa.consumers += sb.consumers
            sa.norms += sb.norms
            sa.free_biases += sb.free_biases
            sa.fixed = sa.fixed or sb.fixed
            fixing.setdefault(a, []).extend(fixing.pop(b, []))
            parent[b] = a
        return a

    space_of: dict[torch.fx.Node, int] = {}

    def inputs(node: torch.fx.Node) -> list[torch.fx.Node]:
        return [a for a in node.all_input_nodes if a in space_of]

    # (node, index of the space its output starts) per space index; resolved to spaces at the end
    fixing: dict[int, list[tuple[torch.fx.Node | str, int | None]]] = {}

    def fix_inputs(node: torch.fx.Node, out: int | None = None) -> None:
        for a in inputs(node):
            i = find(space_of[a])
            spaces[i].fixed = True
            fixing.setdefault(i, []).append((node, out))

    def channels_first(space: int) -> bool:
        """Whether the space's channels are dimension 1: every producer a convolution (or a norm
        joined to one). A Linear on (N, L, D) has its channels last, where a mean over dim 2
        averages the channels themselves (the gauge then changed the function)."""
        def at_dim_1(name: str) -> bool:  # LayerNorm scales the last dimension
            if name in layers:
                return layers[name].kind == "conv"
            return isinstance(modules.get(name), (nn.modules.batchnorm._NormBase, nn.GroupNorm))

        producers = spaces[find(space)].producers
        return bool(producers) and all(at_dim_1(p.name) for p in producers)

    # Spaces that cannot have their channels at dimension 1 of every tensor carrying them (a
    # Linear or LayerNorm on more than 2 dimensions works on the last one): unless the whole
    # space keeps them last (`_channels_placed`), the gauge's un-scaling, which assumes channels
    # at dimension 1 or first in a flatten, changed the function without a word there.
    not_first: list[int] = []
    for node in graph.nodes:
        first = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        mod = modules.get(node.target) if node.op == "call_module" else None
        if reads_shape_only(node):
            continue  # x.size(0), x.shape: no tensor out, nothing of x's values read
        if node.op == "call_module" and node.target in layers and first is not None:
            layer = layers[node.target]
            spaces[find(space_of[first])].consumers.append(layer)
            if layer.kind == "linear" and len(shapes.get(first, ())) != 2:
                not_first.append(space_of[first])  # it reads the last dimension
            out = space_of[node] = new()
            if layer.kind == "linear" and len(shapes.get(node, ())) != 2:
                not_first.append(out)  # its channels are the last dimension
            spaces[out].producers.append(Producer(layer.name, (layer.weight,) + (
                (layer.bias,) if layer.bias is not None else ())))
            spaces[out].channels = layer.out_units
            users = list(node.users)
            norm = nn.modules.batchnorm._NormBase
            if layer.bias is not None and users and all(
                    u.op == "call_module" and isinstance(modules.get(u.target), norm)
                    and u.args[:1] == (node,) for u in users):
                spaces[out].free_biases.append((layer.bias, tuple(str(u.target) for u in users)))
        elif isinstance(mod, nn.modules.batchnorm._NormBase) and first is not None:
            # Batch and instance norm normalise each channel: the input scale is irrelevant.
            spaces[find(space_of[first])].norms.append(str(node.target))
            space_of[node] = _norm_output(new, spaces, mod, str(node.target))
        elif isinstance(mod, (nn.GroupNorm, nn.LayerNorm)) and first is not None:
            fix_inputs(node)  # invariant to one scale per group, not per channel
            space_of[node] = _norm_output(new, spaces, mod, str(node.target))
            if isinstance(mod, nn.LayerNorm) and len(shapes.get(node, ())) != 2:
                not_first.append(space_of[node])  # its scale is on the last dimension
        elif first is not None and len(inputs(node)) == 1 and (
                _flattens_per_example(node)
                or (_reduces_within_channels(node) and channels_first(space_of[first]))
                or isinstance(mod, _HOMOGENEOUS_MODULES)
                or (node.op == "call_function" and node.target in _HOMOGENEOUS_FUNCTIONS)
                or (node.op == "call_method" and node.target in _HOMOGENEOUS_METHODS)):
            space_of[node] = space_of[first]
        elif ((node.op == "call_function" and node.target in _ADD_FUNCTIONS)
              or (node.op == "call_method" and node.target in _ADD_METHODS)) \
                and len(node.args) == 2 and not node.kwargs \
                and all(isinstance(a, torch.fx.Node) and a in space_of for a in node.args):
            space_of[node] = union(space_of[node.args[0]], space_of[node.args[1]])
        else:
            # The input, the output, and anything not known to commute with a channel scale.
            out = None if node.op == "output" else new(fixed=True)
            fix_inputs(node, out)
            if out is not None:
                space_of[node] = out
                fixing.setdefault(out, []).append((node, out))  # made by it
    plan = [sp for i, sp in spaces.items() if find(i) == i]
    for i, sp in spaces.items():
        if find(i) == i:
            sp.fixed_by = [(n, None if o is None else spaces[find(o)]) for n, o in fixing.get(i, [])]
    for sp in plan:
        _check_space(sp, target)
    carried: dict[int, list[tuple[int, ...]]] = {}  # each space's tensors' shapes
    for node, i in space_of.items():
        if node in shapes:
            carried.setdefault(find(i), []).append(shapes[node])
    first_ruled_out = {find(i) for i in not_first}
    for i, sp in spaces.items():
        if find(i) == i and sp.channels and not _channels_placed(
                sp, carried.get(i, []), i in first_ruled_out, layers, modules):
            # Nor may a batch norm absorb its biases: it normalises dimension 1, not their
            # channels. Marked fixed or not: the permutation form reads the mark.
            sp.free_biases.clear()
            sp.fixed = True
            sp.fixed_by.append(("channel layout", None))  # moves no unit: MC dropout's masks hold
    plan = _producers_first(plan)
    _PLANS[target] = plan
    return plan


def _channels_placed(sp: ChannelSpace, carried: list[tuple[int, ...]], first_ruled_out: bool,
                     layers: dict, modules: dict) -> bool:
    """Whether every tensor of the space holds its channels where the gauge assumes: at
    dimension 1 (or first in a 2-D flatten: channel-major), or, for a space only Linear or
    LayerNorm layers make and only Linear layers read (a token-wise MLP on (B, L, D)), last."""
    c = sp.channels
    first = not first_ruled_out and all(
        len(s) >= 2 and s[1] % c == 0 and (s[1] == c or len(s) == 2) for s in carried)
    last = (all(len(s) >= 2 and s[-1] == c for s in carried) and not sp.norms
            and all(layers[p.name].kind == "linear" if p.name in layers
                    else isinstance(modules.get(p.name), nn.LayerNorm) for p in sp.producers)
            and all(layer.kind == "linear" for layer in sp.consumers))
    return first or last


def traced_graph(target: TargetNet) -> torch.fx.Graph:
    """The module's ``torch.fx`` graph, made once per target; raises `GaugeUnavailable`."""
    return _graph_and_shapes(target)[0]


def _graph_and_shapes(target: TargetNet) -> tuple[torch.fx.Graph, dict[torch.fx.Node, tuple[int, ...]]]:
    """The module's torch.fx graph and its tensors' shapes (`_output_shapes`), made once per
    target: the plan and the permutation form's chain check read the same ones."""
    if target not in _GRAPHS:
        try:
            traced = torch.fx.symbolic_trace(target.module)
        except Exception as e:  # fx raises many kinds; any of them means "no graph"
            raise GaugeUnavailable(
                f"cannot trace {type(target.module).__name__} with torch.fx ({type(e).__name__}: {e}); "
                "the weight-space gauge needs the module's graph: use method.diversity 'outputs' "
                "(no gauge needed) or 'none'") from e
        _GRAPHS[target] = traced.graph, _output_shapes(traced, target)
    return _GRAPHS[target]


def _output_shapes(traced: torch.fx.GraphModule, target: TargetNet) -> dict[torch.fx.Node, tuple[int, ...]]:
    """Each tensor-valued node's output shape on two inputs of zeros, in eval mode: the graph run
    on a copy of the module (the plan is first made inside a training step, where restoring the
    original's buffers in place broke the step's backward; a graph traced in training mode can
    write batch statistics), or on the module itself with its modes kept where it cannot be
    copied (a lock); the random state forked, CUDA's too (a dropout traced in training mode
    draws: a resumed run must draw what an uninterrupted one did)."""
    p = next(target.module.parameters())
    shapes: dict[torch.fx.Node, tuple[int, ...]] = {}
    try:
        module = copy.deepcopy(target.module)
        kept = nullcontext()
    except Exception:  # uncopyable: the original, which eval mode keeps from writing statistics
        module, kept = target.module, kept_modes(target.module)

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node):
            out = super().run_node(n)
            if isinstance(out, torch.Tensor):
                shapes[n] = tuple(out.shape)
            return out

    cuda = [p.device] if p.device.type == "cuda" else []
    try:
        with kept, torch.random.fork_rng(devices=cuda), torch.no_grad():
            module.eval()
            # The same graph (its nodes key the shapes) over the copy's submodules.
            Recorder(torch.fx.GraphModule(module, traced.graph)).run(
                torch.zeros(2, *target.input_shape, device=p.device, dtype=p.dtype))
    except Exception as e:  # a graph that traces but does not run: no shapes, no gauge
        raise GaugeUnavailable(
            f"cannot run the torch.fx graph of {type(target.module).__name__} on inputs of shape "
            f"{(2, *target.input_shape)} ({type(e).__name__}: {e}); the weight-space gauge needs "
            "its tensors' shapes: use method.diversity 'outputs' (no gauge needed) or 'none'") from e
    return shapes


def _producers_first(plan: list[ChannelSpace]) -> list[ChannelSpace]:
    """Order spaces so that a space comes before every space one of its consumers produces:
    un-scaling a consumer's inputs changes that layer's filters, so its own space must be
    gauged afterwards (a residual stream's readers come after the stream).

    Gauged spaces that reach each other through their consumers (a residual block's layers
    read the stream they add to: a network without batch norm) form a cycle that no order
    fixes: each gets the cycle's number in ``cycle`` and the cycle's spaces follow one another,
    to be gauged together (`_gauge_cycle`). On an acyclic plan the order is the one-pass order
    it always was."""
    made_by = {p.name: i for i, sp in enumerate(plan) for p in sp.producers}
    # Every edge orders the spaces (as it always did: an acyclic plan's order, and with it the
    # order of sums such as the relaxed gauge's penalty, is unchanged); the gauged ones alone,
    # self-reads included, find the cycles.
    after = {i: {made_by[c.name] for c in sp.consumers if c.name in made_by} - {i}
             for i, sp in enumerate(plan)}
    gauged_after = {i: {made_by[c.name] for c in sp.consumers if c.name in made_by
                        and plan[made_by[c.name]].gauged} if sp.gauged else set()
                    for i, sp in enumerate(plan)}

    def reach(i: int) -> set[int]:
        seen, todo = set(), [i]
        while todo:
            for j in gauged_after[todo.pop()] - seen:
                seen.add(j)
                todo.append(j)
        return seen

    reaches = {i: reach(i) for i in after}
    # A component: the spaces that reach each other (a space alone unless it is on a cycle).
    component = {i: min([i, *(j for j in reaches[i] if i in reaches[j])]) for i in after}
    cycles = sorted({component[i] for i in after if i in reaches[i]})
    for i, sp in enumerate(plan):
        sp.cycle = cycles.index(component[i]) if component[i] in cycles else None
    members = {c: [i for i in after if component[i] == c] for c in set(component.values())}
    succ = {c: {component[j] for i in members[c] for j in after[i]} - {c} for c in members}
    indegree = dict.fromkeys(members, 0)
    for targets in succ.values():
        for d in targets:
            indegree[d] += 1
    ready = [c for c in sorted(indegree) if indegree[c] == 0]
    order = []
    while ready:
        c = ready.pop(0)
        order += members[c]
        for d in sorted(succ[c]):
            indegree[d] -= 1
            if indegree[d] == 0:
                ready.append(d)
    # A cycle through spaces no gauge rescales (a tanh between a block's layers) orders nothing:
    # the rest follow in index order, a cycle's spaces together.
    order += [i for c in sorted(members) for i in members[c] if i not in order]
    return [plan[i] for i in order]


def _norm_output(new, spaces: dict[int, ChannelSpace], mod: nn.Module, name: str) -> int:
    """The space a normalisation layer makes: its scale and shift produce it (or, without
    them, nothing can rescale it)."""
    weight = getattr(mod, "weight", None)
    if weight is None:
        return new(fixed=True)
    out = new()
    prefix = f"{name}."
    bias = getattr(mod, "bias", None)
    spaces[out].producers.append(Producer(name, (prefix + "weight",) + ((prefix + "bias",)
                                                                         if bias is not None else ())))
    spaces[out].channels = weight.shape[0]
    return out


def _check_space(sp: ChannelSpace, target: TargetNet) -> None:
    """Fix the space (leave it un-gauged) unless all its members agree on the channel count."""
    if not sp.producers:
        return
    shapes = target.param_shapes
    counts = {shapes[p.tensors[0]][0] for p in sp.producers}
    if len(counts) != 1:
        sp.fixed = True
        sp.fixed_by.append(("channel counts", None))
        return
    sp.channels = counts.pop()
    if any(c.in_units % sp.channels for c in sp.consumers) or any(
            target.stat_shapes[f"{n}.running_mean" if n else "running_mean"][0] != sp.channels
            for n in sp.norms if (f"{n}.running_mean" if n else "running_mean") in target.stat_shapes):
        sp.fixed = True
        sp.fixed_by.append(("channel counts", None))
        return
    sp.filter_size = sum(math.prod(shapes[t][1:]) for p in sp.producers for t in p.tensors)


def gauged_spaces(target: TargetNet) -> list[ChannelSpace]:
    """The channel spaces the scale gauge fixes."""
    return [sp for sp in channel_spaces(target) if sp.gauged]


def _space_sq_norms(weights: WeightBatch, sp: ChannelSpace) -> torch.Tensor:
    """Squared norm of channel c over all producers of the space: ``(N, C)``."""
    total = 0
    for p in sp.producers:
        for t in p.tensors:
            w = weights[t]
            w = w.reshape(w.shape[0], sp.channels, -1)
            # w * w, not w.pow(2): the same values and gradients, and pow's backward (its own
            # pow(w, 1) pass) took 2.3 x the time (the Deutsch MNIST step's weights)
            total = total + (w * w).sum(-1)
    return total


def scale_gauge(target: TargetNet, weights: WeightBatch) -> WeightBatch:
    """Rescale each gauged channel space so that channel c has squared norm = its element count
    over the space's producers (for a chain: each filter of layers 1..m-1, bias included),
    un-scaling the matching inputs of its consumers and the running statistics of batch norms
    that read it, so the network's function is unchanged."""
    out = dict(weights)
    for sp in channel_spaces(target):
        for bias, norms in sp.free_biases:  # to 0, the norms' running means absorbing it
            b = out[bias]
            out[bias] = torch.zeros_like(b)
            for name in norms:
                if f"{name}.running_mean" in out:
                    out[f"{name}.running_mean"] = out[f"{name}.running_mean"] - b
    done: set[int] = set()
    for sp in gauged_spaces(target):
        if sp.cycle is None:
            out = _gauge_space(out, sp)
        elif sp.cycle not in done:  # the plan keeps a cycle's spaces together
            done.add(sp.cycle)
            out = _gauge_cycle(out, [s for s in gauged_spaces(target) if s.cycle == sp.cycle])
    return out


def _gauge_space(out: WeightBatch, sp: ChannelSpace) -> WeightBatch:
    """Rescale the channels of one space to the fixed norms: ``out``, updated."""
    sq = _space_sq_norms(out, sp)
    # A dead (all-zero) channel has no scale to fix; leave it alone instead of dividing by 0.
    # The square root never sees its 0 either: sqrt's gradient there (∞ · 0) made every
    # gradient NaN, though the value was not used.
    safe = torch.where(sq > 0, sq, torch.full_like(sq, float(sp.filter_size)))
    return _rescale_space(out, sp, torch.where(sq > 0, (safe / sp.filter_size).sqrt(), torch.ones_like(sq)))


def _rescale_space(out: WeightBatch, sp: ChannelSpace, s: torch.Tensor) -> WeightBatch:
    """Divide channel c of the space by ``s[:, c]`` (``(N, C)``): its producers' filters, and
    multiply its readers' matching input channels, its batch norms' statistics following, so the
    function is unchanged: ``out``, updated."""
    for p in sp.producers:
        for t in p.tensors:
            w = out[t]
            out[t] = w / s.reshape(*s.shape, *([1] * (w.dim() - 2)))
    for layer in sp.consumers:
        out[layer.weight] = _scale_inputs(out[layer.weight],
                                          s.repeat_interleave(layer.in_units // sp.channels, 1))
    for name in sp.norms:
        prefix = f"{name}." if name else ""
        if prefix + "running_mean" in out:
            out[prefix + "running_mean"] = out[prefix + "running_mean"] / s
            out[prefix + "running_var"] = out[prefix + "running_var"] / s.pow(2)
    return out


def _channel_sq_norms(w: torch.Tensor, channels: int) -> torch.Tensor:
    """A layer's squared weights per (output, input channel): ``(N, out, channels)``, summed over
    kernel positions (or over each channel's positions in a flatten, channel-major)."""
    return (w * w).reshape(w.shape[0], w.shape[1], channels, -1).sum(-1)


@dataclass
class _CycleTerms:
    """A cycle's squared norms, split by which scales they move with (`_gauge_cycle`)."""

    fixed: list[torch.Tensor]  # per space (N, C): what no scale of the cycle moves
    reads: list[list[tuple[torch.Tensor, int]]]  # per space: (its producer's (N, C, C_r), r)
    read_by: list[list[tuple[torch.Tensor, int]]]  # per space: (its consumer's (N, C_o, C), o)


def _cycle_terms(out: WeightBatch, cycle: list[ChannelSpace]) -> _CycleTerms:
    reads_space = {layer.name: k for k, sp in enumerate(cycle) for layer in sp.consumers}
    fixed, reads = [], []
    for sp in cycle:
        total, mine = 0, []
        for p in sp.producers:
            for i, t in enumerate(p.tensors):
                if i == 0 and p.name in reads_space:  # a layer's weight, reading a cycle space
                    r = reads_space[p.name]
                    mine.append((_channel_sq_norms(out[t], cycle[r].channels), r))
                else:  # a bias, a norm's scale and shift, a layer reading from outside
                    w = out[t]
                    total = total + (w * w).reshape(w.shape[0], sp.channels, -1).sum(-1)
        fixed.append(total)
        reads.append(mine)
    read_by = [[(m, k) for k, ms in enumerate(reads) for m, r in ms if r == j]
               for j in range(len(cycle))]
    return _CycleTerms(fixed, reads, read_by)


# At most this many sweeps of `_gauge_cycle` (it stops when no log-scale moves by more than its
# dtype's tolerance): a probe's residual MLPs and conv blocks (weights 1-10x a default init) met
# to 1e-12 in float64 in 12-96 sweeps, to float32's precision in about 10.
_CYCLE_SWEEPS = 500


def _gauge_cycle(out: WeightBatch, cycle: list[ChannelSpace]) -> WeightBatch:
    """Gauge spaces that reach each other through their consumers together: ``out``, updated.

    There the seed's condition (every channel at its fixed norm) may have no solution: in a
    residual block h + W2 relu(W1 h), the stream's norm keeps |W2 W1|² whatever the scales. The
    gauge instead takes, over the channel scales a = exp(u) of every space of the cycle, the
    unique minimum of the convex F(u) = Σ (squared weights of the cycle's producers, rescaled)
    − Σ_c n_c 2u_c (n_c: the space's element count per channel): at it, each channel's squared
    norm less the squared weights of the cycle's layers that read it equals n_c. Rescaled copies
    of a network meet there (F moves with them), and a space whose readers all lie outside the
    cycle gets seed 000's condition. Found by exact minimisation over one space at a time (each
    channel a quadratic in exp(2u)), repeated until the scales stop moving, differentiably: the
    backward keeps every sweep's (N, C) scales, and each layer's (N, C, C') squared weights once
    (the sweeps multiply them with vectors: no (N, C, C') temporary per sweep)."""
    terms = _cycle_terms(out, cycle)
    ref = out[cycle[0].producers[0].tensors[0]]
    tol = max(1e-12, 8 * torch.finfo(ref.dtype).eps)  # float32: 1e-6, in about 10 sweeps
    x = [torch.ones(ref.shape[0], sp.channels, dtype=ref.dtype, device=ref.device) for sp in cycle]
    # A layer reading its own space: channel c's own weight is unmoved by c's scale, the others
    # move with both ends' scales. Made once: the weights do not change between sweeps.
    own = [[m - torch.diag_embed(torch.diagonal(m, dim1=1, dim2=2)) for m, r in terms.reads[k] if r == k]
           for k in range(len(cycle))]
    for sweep in range(_CYCLE_SWEEPS):
        check = sweep % 4 == 3  # one host sync every 4th sweep (each stalled a GPU's queue)
        moved = []
        for k, sp in enumerate(cycle):
            # F's terms in x = exp(2u) of this space: a·x + b/x - n log x per channel. Products
            # of a matrix and a vector: an (N, C, C') temporary each was kept for the backward.
            a, b = terms.fixed[k], 0
            for m, r in [*((m, r) for m, r in terms.reads[k] if r != k), *((m, k) for m in own[k])]:
                a = a + (m @ (1 / x[r]).unsqueeze(-1)).squeeze(-1)
            for m, o in [*((m, o) for m, o in terms.read_by[k] if o != k), *((m, k) for m in own[k])]:
                b = b + (x[o].unsqueeze(1) @ m).squeeze(1)
            n = float(sp.filter_size)
            # A dead channel (no weight that its scale moves, its own read of itself aside: F has
            # no minimum in it) keeps its scale instead of dividing by 0.
            live = a > 0
            safe = torch.where(live, a, torch.ones_like(a))
            new = torch.where(live, (n + torch.sqrt(n * n + 4 * safe * b)) / (2 * safe), x[k])
            if check:
                with torch.no_grad():
                    moved.append((new.log() - x[k].log()).abs().amax())
            x[k] = new
        if check and torch.stack(moved).amax().item() < tol:
            break
    for sp, xk in zip(cycle, x, strict=True):  # channel c times sqrt(x): divided by its rsqrt
        out = _rescale_space(out, sp, xk.rsqrt())
    return out


def logit_bias_gauge(target: TargetNet, weights: WeightBatch) -> WeightBatch:
    """Shift the last layer's biases to sum to zero (softmax is invariant to the shift). Only for
    outputs read through a softmax (the Deutsch method and the classification analyses): it
    changes a regression network's function."""
    last = target.layers[-1]
    if last.bias is None:
        return dict(weights)
    b = weights[last.bias]
    return {**weights, last.bias: b - b.mean(dim=1, keepdim=True)}


def gauge_fix(target: TargetNet, weights: WeightBatch) -> WeightBatch:
    """The gauge of seed 000: scale gauge, then logit-bias gauge."""
    return logit_bias_gauge(target, scale_gauge(target, weights))


def gauge_penalty(target: TargetNet, weights: WeightBatch) -> torch.Tensor:
    """Relaxed gauge G(θ) of seed 000 eq. 8, per network: ``(N,)``; zero exactly on the exact
    gauge. Beyond the seed (whose targets have none): a bias only batch norms read, which the
    exact gauge sets to 0, adds its squared norm."""
    n = next(iter(weights.values())).shape[0]
    pen = weights[target.layers[0].weight].new_zeros(n)
    for sp in channel_spaces(target):
        for bias, _ in sp.free_biases:
            pen = pen + weights[bias].pow(2).sum(1)
    cycles: dict[int, list[ChannelSpace]] = {}
    for sp in gauged_spaces(target):
        if sp.cycle is None:
            pen = pen + (_space_sq_norms(weights, sp) - sp.filter_size).pow(2).sum(1)
        else:
            cycles.setdefault(sp.cycle, []).append(sp)
    for cycle in cycles.values():  # `_gauge_cycle`'s condition: F's gradient at u = 0
        terms = _cycle_terms(weights, cycle)
        for k, sp in enumerate(cycle):
            gap = (terms.fixed[k] + sum(m.sum(-1) for m, _ in terms.reads[k])
                   - sum(m.sum(1) for m, _ in terms.read_by[k]) - sp.filter_size)
            pen = pen + gap.pow(2).sum(1)
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


def _chain(target: TargetNet) -> bool:
    """Whether each layer's output reaches the next layer, and nothing else, through ops of one
    tensor input each (two branches joined by ``torch.cat`` are not a chain: permuting one
    branch's filters as if the next layer read it alone changed the function), every Linear on
    2-D tensors (one reading a conv map's width, behind a tanh that no gauge follows, was
    permuted as if it read its channels)."""
    graph, shapes = _graph_and_shapes(target)
    calls = {n.target: n for n in graph.nodes if n.op == "call_module"}
    for layer in target.layers:
        node = calls.get(layer.name)
        if layer.kind == "linear" and node is not None and (
                len(shapes.get(node, ())) != 2 or len(shapes.get(node.args[0], ())) != 2):
            return False
    for layer, nxt in pairwise(target.layers):
        node = calls.get(layer.name)
        while node is not None and node.target != nxt.name:
            users = [u for u in node.users if not reads_shape_only(u)]
            if len(users) != 1 or len([a for a in users[0].all_input_nodes
                                       if not reads_shape_only(a)]) != 1:
                return False
            node = users[0]
        if node is None:
            return False
    return True


def permutation_canonical(target: TargetNet, weights: WeightBatch, key: SortKey = "sum"
                          ) -> WeightBatch:
    """Sort the filters of layers 1..m-1 by ``key`` (ascending), permuting the next layer's
    input channels to match, so networks that differ by a permutation coincide. Chains only:
    no normalisation layers, no additions."""
    if target.has_statistics or any(layer.norm for layer in target.layers) or any(
            len(sp.producers) > 1 or ("channel layout", None) in sp.fixed_by
            for sp in channel_spaces(target)) or not _chain(target):
        raise GaugeUnavailable("the permutation canonical form supports chain targets (each layer "
                               "read by the next alone, channels at dimension 1) without "
                               "normalisation or residual additions")
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


def _gauge_error(target: TargetNet, what: str, probe: int, dtype: torch.dtype) -> float:
    """`check_gauge`'s relative change of the outputs, on a copy of the module in ``dtype``."""
    module = copy.deepcopy(target.module).to("cpu", dtype).eval()
    for m in module.modules():  # the gauge holds up to batch norm's ε, which the check is not about
        if isinstance(m, nn.modules.batchnorm._NormBase):
            # 0 where running statistics normalise; batch statistics refuse 0 (and a channel a
            # ReLU left at zero would give 0/0): an ε far below any variance there.
            m.eps = 0.0 if m.track_running_stats and m.running_var is not None else torch.finfo(dtype).tiny
    copied = TargetNet(module, target.input_shape, backend="loop")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(probe, *target.input_shape, generator=g, dtype=dtype)
    weights = {k: v * (1 + 0.5 * torch.randn(v.shape, generator=g, dtype=v.dtype))
               + 0.1 * torch.randn(v.shape, generator=g, dtype=v.dtype)
               if k in copied.param_shapes or k.endswith("running_mean")
               else v * torch.exp(0.3 * torch.randn(v.shape, generator=g, dtype=v.dtype))  # variances
               for k, v in copied.module_weights().items()}
    with torch.no_grad():
        try:
            gauged = scale_gauge(copied, weights)
        except ValueError as e:  # channels of one layer cannot be mapped to the next
            raise ConfigError(f"{what} needs layers whose channels the gauge can follow ({e}); use "
                              "method.diversity: outputs (entropy of outputs) instead") from e
        y, yg = copied(weights, x), copied(gauged, x)
    return (y - yg).abs().max().item() / max(y.abs().max().item(), 1e-12)


def check_gauge(target: TargetNet, what: str, probe: int = 4, rtol: float = 1e-4) -> None:
    """Raise `ConfigError` unless `scale_gauge` leaves the target's outputs unchanged (batch
    norms' ε set to 0).

    The gauges and MC-dropout masks follow channels only through operations the graph reading
    knows to commute with a channel scale (`channel_spaces`); a mistake there would change the
    function without a word, so it is checked on a float64 copy of the module (float32 where its
    forward makes float32 tensors of its own), in eval mode, with its own initial weights, each
    value moved at random (a norm's scale starts at 1 in every channel, where a per-channel
    error cannot show), on ``probe`` random inputs; ``what`` names the setting that needs the
    gauge, for the message. The copy runs on the CPU whatever the target's device: the probe
    draws there, and the answer does not depend on the device."""

    try:
        err = _gauge_error(target, what, probe, torch.float64)
    except RuntimeError:
        # A forward that casts its input (``x.float()``, a one-hot's ``.float()``) runs in float32
        # alone ("mat1 and mat2 must have the same dtype" in float64); a bug fails again here.
        err = _gauge_error(target, what, probe, torch.float32)
        rtol = max(rtol, 1e-3)  # float32's rounding through a deep network, far below a failure's
    if not err <= rtol:
        raise ConfigError(f"{what} assumes positively homogeneous operations between layers (ReLU, "
                          f"leaky ReLU, pooling, additions), but rescaling the filters of target "
                          f"{type(target.module).__name__} changes its outputs (relative error "
                          f"{err:.1e}); use method.diversity: outputs (entropy of outputs) instead")

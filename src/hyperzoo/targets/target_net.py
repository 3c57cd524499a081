"""`TargetNet`: a read-only view of any ``nn.Module`` as a family of weight batches.

A network is its parameters and, where the module has batch norm, its running statistics:
a weight batch may carry ``<bn>.running_mean`` and ``<bn>.running_var`` as ``(N, C)`` (the
step counter ``num_batches_tracked`` is not part of a network). In train mode every batch-norm
layer normalises with the batch statistics of each network's own inputs; in eval mode with that
network's own running statistics, which the weight batch must then carry.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from hyperzoo.errors import ConfigError
from hyperzoo.targets import threads
from hyperzoo.targets.per_network import Loss, WithGradients, call_each, loss_each
from hyperzoo.targets.pooling import MAX_POOLS, IndexFreePooling, plain_2x2_input
from hyperzoo.targets.vmap_autocast import VmapAutocast
from hyperzoo.weights import WeightBatch, batch_size

Backend = Literal["auto", "vmap", "loop", "threads"]
# What a generated layer is: a convolution (its weight (out, in / groups, *kernel)) or a Linear.
LayerKind = Literal["conv", "linear"]

# Layer kinds whose parameters hyperzoo can split into filters (one output unit each).
_SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Normalisation layers whose per-channel scale and shift join the filters of the layer before.
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
# Batch norm (and instance norm with running statistics): their running buffers are per network.
_RUNNING = nn.modules.batchnorm._NormBase
STAT_NAMES = ("running_mean", "running_var")
BACKENDS: tuple[str, ...] = get_args(Backend)
# Forward FLOPs per network call and intra-op thread (two at most: measured on one and two) up
# to which `auto` uses vmap on the CPU (bench/backends.py). Beyond it vmap's grouped convolutions
# lost to a call per network (the digits net: 1.06x at 12 MFLOP on two threads, 1.18x at 6 on
# one), and so did its batched matmuls on one thread (a 784-512 MLP: 1.14x at 43 MFLOP).
VMAP_MAX_FLOPS = 4e6


class StatisticsMissing(ValueError):
    """Eval-mode batch norm without each network's running statistics in the weight batch."""


@dataclass(frozen=True)
class LayerSpec:
    """One generated layer: a conv or linear module and how its weights split into filters.

    A normalisation layer right after it (batch, group or layer norm over its channels) adds
    its per-channel scale ``norm_scale`` and shift ``norm_shift`` to each filter: filter ``i``
    is its weights, its bias, then scale ``i`` and shift ``i`` (seed 003: "the weight
    generators output scale and shift parameters")."""

    name: str
    kind: LayerKind
    weight: str
    bias: str | None
    weight_shape: tuple[int, ...]
    norm: str | None = None  # the normalisation module's name
    norm_scale: str | None = None
    norm_shift: str | None = None

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
    def channel_params(self) -> tuple[str, ...]:
        """Names of the per-filter scalars: bias, norm scale, norm shift (those that exist)."""
        return tuple(k for k in (self.bias, self.norm_scale, self.norm_shift) if k is not None)

    @property
    def filter_size(self) -> int:
        """Elements per filter, bias and norm scale/shift included (``n_{l,i}`` of seed 000)."""
        return self.fan_in + len(self.channel_params)

    @property
    def num_weights(self) -> int:
        return self.out_units * self.filter_size

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, num_weights) in filter-major order (each filter's weights, then its bias, norm
        scale and shift) → weight (N, *shape) and each per-channel vector (N, out). The one
        layout every generator emits. A norm scale is emitted as its difference from 1, so a
        generator whose outputs start near 0 starts at the identity normalisation."""
        n = flat.shape[0]
        filters = flat.reshape(n, self.out_units, self.filter_size)
        weights = {self.weight: filters[..., :self.fan_in].reshape(n, *self.weight_shape)}
        for j, name in enumerate(self.channel_params):
            weights[name] = filters[..., self.fan_in + j] + (1.0 if name == self.norm_scale else 0.0)
        return weights


def _channels(norm: nn.Module) -> int:
    """Channels a normalisation layer's per-channel scale and shift cover."""
    if isinstance(norm, nn.GroupNorm):
        return norm.num_channels
    if isinstance(norm, nn.LayerNorm):
        return norm.normalized_shape[0]
    return norm.num_features


def to_channels_last(t: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` or ``(N, B, C, H, W)``: every ``(B, C, H, W)`` slice in NHWC layout,
    with explicit NHWC strides even where C = 1 (a size-1 dimension's stride is otherwise free,
    and oneDNN then takes its NCHW path: a one-channel convolution's weight gradient was 5x
    slower there)."""
    if t.dim() == 4:
        return t.to(memory_format=torch.channels_last)
    n, b, c, h, w = t.shape
    out = torch.empty_strided(t.shape, (b * h * w * c, h * w * c, 1, w * c, c), dtype=t.dtype,
                              device=t.device)
    return out.copy_(t)  # differentiable: the gradient flows back to t


class TargetNet:
    """Parameter specs, filters and layer order of a module, and batched evaluation.

    The module is never modified: weights are supplied per call through
    ``torch.func.functional_call``: ``vmap`` over networks, one call per network (``loop``), or
    whole networks on each of ``torch.get_num_threads()`` CPU threads (``threads``, which falls
    back to the loop where `threads.usable` says no). ``backend="auto"`` runs small networks
    with ``vmap`` on CPU too (`_vmap_wins`), the others on ``threads`` where autograd records, for
    up to ``threads.MAX_BATCH`` inputs per network, and in the loop otherwise (more inputs, or
    inference); ``vmap`` elsewhere.
    The threads call copies of the module that follow its public attributes and submodules
    (`threads.Replicas`). Layers are found in forward
    order by tracing one forward pass on zeros of ``input_shape`` (no batch axis).
    ``channels_last``: whether the CPU loop runs this image target in NHWC layout (training too,
    unless the module has a convolution whose NHWC backward PyTorch gets wrong, below); True where
    a trial forward pass in NHWC succeeds (a ``x.view(len(x), -1)`` after a convolution fails
    there), settable to False. ``index_free_pooling``: whether that loop, with autograd off, runs
    2×2 max pooling of channels-last tensors without PyTorch's index tensor (`pooling`; the same
    numbers): True where the trial pass pools 2×2 and the loop runs channels-last, settable.
    ``backward_with_forward``: whether `cross_entropy` on the CPU loop and threads takes each
    network's backward right after its forward (`per_network.loss_each`), settable to False.
    Not thread-safe: every backend swaps tensors into one module (or one set of copies) for the
    call, so two threads calling one target at once mix their networks. Give each thread its
    own (``copy.deepcopy(target)``).
    """

    def __init__(self, module: nn.Module, input_shape: tuple[int, ...], backend: Backend = "auto"):
        if backend not in BACKENDS:
            raise ConfigError(f"backend {backend!r} is not one of {', '.join(map(repr, BACKENDS))}")
        self.module = module
        self._replicas = threads.Replicas(module)
        self.input_shape = tuple(input_shape)
        self.backend: Backend = backend
        # See `lower_precision`. A plain attribute: torch.compile traces it (a ContextVar would
        # break the graph at every call) and the target deep-copies and pickles.
        self._precision: torch.dtype | None = None
        self._train_channels_last = not any(_nhwc_backward_unsafe(m) for m in module.modules())
        self.layers: tuple[LayerSpec, ...]
        self.layers, self._example_flops = self._trace_layers()
        self._draws_at_random, pools = self._trace_calls()
        self.channels_last = len(self.input_shape) == 3 and self._runs_channels_last()
        # Only where the forward pools 2x2 in NHWC: elsewhere the mode would only cost each call
        # a Python dispatch per operation.
        self.index_free_pooling = pools and self.channels_last
        self.backward_with_forward = True
        self._vmap_runs: bool | None = None  # found out at the first call that would use vmap
        self.param_shapes: dict[str, tuple[int, ...]] = {
            name: tuple(p.shape) for name, p in module.named_parameters()
        }
        # Running statistics, one set per network: (C,) each, batched as (N, C).
        self.stat_shapes: dict[str, tuple[int, ...]] = {}
        self._norms: dict[str, nn.Module] = {}  # module name -> batch-norm module with statistics
        for mod_name, mod in module.named_modules():
            if isinstance(mod, _RUNNING) and mod.track_running_stats and mod.running_mean is not None:
                prefix = f"{mod_name}." if mod_name else ""
                self._norms[mod_name] = mod
                for stat in STAT_NAMES:
                    self.stat_shapes[prefix + stat] = tuple(getattr(mod, stat).shape)

    def _trace_layers(self) -> tuple[tuple[LayerSpec, ...], float]:
        """The generated layers in forward order, and the forward FLOPs of one example
        (matmuls and convolutions, torch's counter), from one trial pass."""
        first_name: dict[int, str] = {}
        for name, p in self.module.named_parameters(remove_duplicate=False):
            if id(p) in first_name:
                raise ConfigError(f"parameter {name!r} is the same tensor as {first_name[id(p)]!r} (tied "
                                  "weights); hyperzoo generates every parameter on its own, so a target "
                                  "cannot share one")
            first_name[id(p)] = name
        owners = {}
        for mod_name, mod in self.module.named_modules():
            own = list(mod.named_parameters(recurse=False))
            if not own:
                continue
            if not isinstance(mod, (*_SUPPORTED, *_NORMS)) or (
                    isinstance(mod, nn.LayerNorm) and len(mod.normalized_shape) != 1):
                label = mod_name or "<root>"
                names = ", ".join(repr(f"{mod_name}.{n}" if mod_name else n) for n, _ in own)
                raise ConfigError(
                    f"layer {label!r} ({type(mod).__name__}) has parameters hyperzoo cannot "
                    f"generate ({names}); supported layers are Linear, Conv1d/2d/3d and, right after one "
                    "of them, BatchNorm, GroupNorm, InstanceNorm or LayerNorm over its channels"
                )
            label = mod_name or "<root>"
            extra = sorted({n for n, _ in own} - {"weight", "bias"})
            if extra:
                # A subclass's own parameter (GainLinear.gain) passed the class check and failed
                # at the first step with a traceback, the run folder already written.
                raise ConfigError(f"layer {label!r} ({type(mod).__name__}) has a parameter {extra[0]!r} "
                                  "besides weight and bias; hyperzoo generates those two only: keep "
                                  "it in a layer of its own kind or as a buffer")
            owners[mod] = mod_name
        order: list[nn.Module] = []
        hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in owners]
        registered = set(self.module.modules())
        # A layer kept in a plain list or dict is not a submodule: its weights would stay fixed
        # at their initial values while the run claims to generate the whole network. One whose
        # parameters are all frozen is kept out on purpose (out of the state dict too): allowed.
        # The hook is global: only this thread's calls are this forward's.
        stray: list[nn.Module] = []
        me = threading.get_ident()

        def outside(m: nn.Module, _inputs: object, _output: object) -> None:
            if (threading.get_ident() == me and m not in registered
                    and any(p.requires_grad for p in m.parameters(recurse=False))):
                stray.append(m)
        hooks.append(nn.modules.module.register_module_forward_hook(outside))
        try:
            # Counted in the same pass: forward FLOPs of an example, for `_vmap_wins`.
            with FlopCounterMode(display=False) as counter:
                self._trial_forward(dict(self.module.named_parameters()), torch.contiguous_format)
        finally:
            for h in hooks:
                h.remove()
        if stray:
            raise ConfigError(f"forward calls a {type(stray[0]).__name__} with trainable parameters that is "
                              f"not a registered submodule of {type(self.module).__name__} (held in a "
                              "plain list or dict?); hyperzoo could not generate its weights: hold it in "
                              "nn.ModuleList or nn.ModuleDict (or freeze it, requires_grad_(False), to "
                              "keep it fixed)")
        seen: list[nn.Module] = []
        for m in order:
            if m in seen:
                raise ConfigError(f"layer {owners[m]!r} is called twice; shared layers are not supported")
            seen.append(m)
        unused = [owners[m] for m in owners if m not in seen]
        if unused:
            # Their weights may still be read (F.linear(x, layer.weight)): generated weights reach a
            # layer only through its own call, so those would stay the module's fixed values.
            raise ConfigError(f"layers {unused} are never called in forward, so hyperzoo cannot order "
                              "or generate them: call each layer (self.fc(x), not F.linear(x, "
                              "self.fc.weight)), and remove layers forward does not use")
        specs: list[LayerSpec] = []
        for m in seen:
            name = owners[m]
            prefix = f"{name}." if name else ""
            if isinstance(m, _NORMS):
                # Joins the filters of the layer called just before it, channel for channel.
                prev = specs[-1] if specs else None
                if prev is None or prev.norm is not None or prev.out_units != _channels(m):
                    # A norm on the model's input is common (tabular data): its running statistics
                    # work without parameters, which are what needs a layer to join.
                    way = (": on the model's input, give it affine=False (its statistics are still "
                           "estimated for each network) or standardise the data instead"
                           if prev is None else "")
                    raise ConfigError(
                        f"normalisation layer {name!r} ({type(m).__name__}, {_channels(m)} channels) "
                        "does not follow a conv or linear layer with that many outputs (with no other "
                        "layer with parameters called between); its scale and shift cannot join that "
                        f"layer's filters{way}")
                specs[-1] = replace(prev, norm=name,
                                    norm_scale=prefix + "weight" if m.weight is not None else None,
                                    norm_shift=prefix + "bias" if m.bias is not None else None)
                continue
            specs.append(
                LayerSpec(
                    name=name,
                    kind="conv" if isinstance(m, nn.modules.conv._ConvNd) else "linear",
                    weight=prefix + "weight",
                    bias=prefix + "bias" if m.bias is not None else None,
                    weight_shape=tuple(m.weight.shape),
                )
            )
        return tuple(specs), counter.get_total_flops() / len(self._zeros())

    @contextmanager
    def _trial(self) -> Iterator[dict[str, torch.Tensor]]:
        """A block of trial passes that leaves the module as it was: each submodule's mode, its
        buffers (restored where a forward wrote them; yields copies of them as they were) and
        torch's CPU random state; no autograd."""
        kept = {k: b.clone() for k, b in self.module.named_buffers()}
        try:
            with kept_modes(self.module), torch.random.fork_rng(devices=[]), torch.no_grad():
                yield kept
        finally:
            with torch.no_grad():
                for k, b in self.module.named_buffers():
                    if k in kept:
                        b.copy_(kept[k])

    def _trial_forward(self, params: WeightBatch, layout: torch.memory_format) -> None:
        """One forward pass on two zero inputs in ``layout``, in eval mode (`_trial`)."""
        with self._trial():
            self.module.eval()
            functional_call(self.module, params, (self._zeros().to(memory_format=layout),))

    def check_batch_statistics(self, images: int) -> None:
        """Raise `ConfigError` where a batch norm in training mode would see one value per channel
        with ``images`` inputs per network (a BatchNorm1d after a Linear, one image): torch
        raised at the first step, after the run folder was written."""
        norms = {m: name for name, m in self.module.named_modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        if not norms:
            return
        per_image: dict[str, float] = {}  # values per channel and input at each norm
        trial = len(self._zeros())

        def record(m: nn.Module, inputs: tuple) -> None:
            # Whatever axes the module folds into the batch: (B·T, D) tokens have T per input.
            per_image[norms[m]] = inputs[0].numel() / (inputs[0].shape[1] * trial)
        hooks = [m.register_forward_pre_hook(record) for m in norms]
        try:
            self._trial_forward(dict(self.module.named_parameters()), torch.contiguous_format)
        finally:
            for h in hooks:
                h.remove()
        for name, values in per_image.items():
            if images * values < 2:
                raise ConfigError(f"batch norm {name!r} normalises each channel over a network's inputs in "
                                  f"training, and with train.images_per_noise {images} (per process) it "
                                  "sees one value per channel: use at least 2 inputs per network")

    def _zeros(self) -> torch.Tensor:
        """Two inputs of zeros, on the module's device and in its dtype: the trial passes' input."""
        p = next(self.module.parameters())
        return torch.zeros(2, *self.input_shape, device=p.device, dtype=p.dtype)

    def _vmap_wins(self, batch: int) -> bool:
        """Whether ``auto`` evaluates ``batch`` inputs per network on the CPU with ``vmap``: where
        the networks' forward is at most ``VMAP_MAX_FLOPS`` per call and thread (up to two), so
        that vmap's one call beat a Python call per network (bench/backends.py); never for a
        module with hooks (a caller's, who expects each network's own call to run them), and only
        where a trial shows vmap can run the module."""
        limit = VMAP_MAX_FLOPS * min(torch.get_num_threads(), 2)
        if self._example_flops * batch > limit:
            return False
        if threads.has_hooks(self.module):
            return False
        if self._vmap_runs is None:
            self._vmap_runs = self._vmap_trial()
        return self._vmap_runs

    def _vmap_trial(self) -> bool:
        """Whether two copies of the module's own weights run under ``vmap`` in eval and in
        training mode, on shared inputs and on each network's own (``.item()`` or branching on
        the input in a forward does not), without writing to a buffer (vmap would update it once
        for all networks, not once for each). The module's buffers, modes and torch's random
        state are as they were after it."""
        two = {k: v.expand(2, *v.shape[1:]) for k, v in self.module_weights().items()}
        backend, self.backend = self.backend, "vmap"
        try:
            with self._trial() as before:
                for training in (False, True):
                    self.module.train(training)
                    weights = two if not training else {k: two[k] for k in self.param_shapes}
                    zeros = self._zeros()
                    self(weights, zeros)
                    self(weights, torch.stack([zeros, zeros + 1]))
                    if not all(torch.equal(b, before[k]) for k, b in self.module.named_buffers()):
                        return False
        except Exception:  # any failure: the per-network backends, as before
            return False
        finally:
            self.backend = backend
        return True

    def _trace_calls(self) -> tuple[bool, bool]:
        """Whether a training-mode forward pass draws from torch's global generator other than
        through dropout and batch norm modules (which `threads.usable` checks): ``F.dropout`` in
        a forward of one's own, ``nn.RReLU``, ``torch.randn`` noise (on threads those draws
        would come in thread order, a run unlike the last); and whether it max-pools 2×2
        (`pooling.plain_2x2_input`)."""
        seen = _Calls()
        params = {k: p.detach() for k, p in self.module.named_parameters()}
        try:
            with self._trial():
                for m in self.module.modules():
                    m.training = not isinstance(m, threads.ORDER_DEPENDENT)
                with seen:
                    functional_call(self.module, params, (self._zeros(),))
        except Exception:  # a forward that fails in training mode: cannot tell, so the safe way
            return True, False  # (run it where the draws keep their order; pool as PyTorch does)
        return seen.draws, seen.pools

    def _runs_channels_last(self) -> bool:
        """Whether a forward pass runs with NHWC input and kernels: layout only changes strides,
        so a module computes the same there unless it fails (a ``view`` that needs NCHW strides
        raises)."""
        nhwc = torch.channels_last
        params = {k: v.to(memory_format=nhwc) if v.dim() == 4 else v
                  for k, v in self.module.named_parameters()}
        try:
            self._trial_forward(params, nhwc)
        except RuntimeError:
            return False
        return True

    @property
    def num_weights(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes.values())

    @property
    def has_statistics(self) -> bool:
        """Whether networks of this target carry running statistics (it has batch norm)."""
        return bool(self.stat_shapes)

    def check(self, weights: WeightBatch) -> int:
        """Validate names and shapes of a weight batch; return its size N.

        Parameters are required; running statistics are optional, but all or none."""
        missing = self.param_shapes.keys() - weights.keys()
        extra = weights.keys() - self.param_shapes.keys() - self.stat_shapes.keys()
        stats = weights.keys() & self.stat_shapes.keys()
        if stats and stats != self.stat_shapes.keys():
            missing |= self.stat_shapes.keys() - stats
        if missing or extra:
            raise ValueError(f"weight batch names differ from the target: missing "
                             f"{sorted(missing)}, unexpected {sorted(extra)}")
        n = batch_size(weights)
        for name, shape in {**self.param_shapes, **self.stat_shapes}.items():
            if name in weights and tuple(weights[name].shape[1:]) != shape:
                raise ValueError(f"weights[{name!r}] has shape {tuple(weights[name].shape)}; "
                                 f"expected (N, {', '.join(map(str, shape))})")
        return n

    def __call__(self, weights: WeightBatch, x: torch.Tensor) -> torch.Tensor:
        """Evaluate N networks: ``x`` is ``(B, ...)`` (shared) or ``(N, B, ...)``; returns ``(N, B, ...)``."""
        return self._evaluate(weights, x)[0]

    def cross_entropy(self, weights: WeightBatch, x: torch.Tensor, y: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The networks' logits ``(N, B, C)`` on ``x`` (``(N, B, ...)``) and their mean
        cross-entropy against the labels ``y`` ``(N, B)``, as
        ``F.cross_entropy(logits.flatten(0, 1), y.flatten())``. Where autograd records (in the
        networks' tensors, not ``x``) and the networks run one at a time (the CPU loop, threads),
        each network's backward runs right after its forward (`per_network.loss_each`): the same
        gradients up to rounding, with one network's activations in memory per thread instead of
        all N; the logits then carry no autograd history, and the loss has no second derivatives
        (a backward with ``create_graph`` raises; ``backward_with_forward = False`` turns it off).
        Not for a module with hooks, which run as usual."""
        if x.shape[1:] == self.input_shape or y.shape != x.shape[:2]:
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"inputs {tuple(x.shape)} and labels {tuple(y.shape)}: expected (N, B, {shape}) "
                             "and (N, B), each network its own batch")
        out, total = self._evaluate(weights, x, y, _summed_cross_entropy)
        if total is None:
            return out, F.cross_entropy(out.flatten(0, 1), y.flatten())
        return out, total / y.numel()

    def _evaluate(self, weights: WeightBatch, x: torch.Tensor, y: torch.Tensor | None = None,
                  loss: Loss | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`__call__`'s outputs, and with ``y`` and ``loss`` where `_apply` takes each network's
        backward with its forward, the networks' summed losses (else None)."""
        n = self.check(weights)
        shared = x.shape[1:] == self.input_shape
        if not shared and not (x.dim() == len(self.input_shape) + 2 and x.shape[0] == n
                               and x.shape[2:] == self.input_shape):
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"input has shape {tuple(x.shape)}; expected (B, {shape}) or ({n}, B, {shape})")
        stats, counters = self._statistics(weights, n, x)
        cast = self._precision
        if cast is None:  # no autocast context of our own: a caller's stays in force
            return self._apply({**weights, **stats}, x, n, shared, counters, y, loss)
        with torch.autocast(x.device.type, dtype=cast):
            out, total = self._apply({**weights, **stats}, x, n, shared, counters, y, loss)
        dtype = weights[next(iter(self.param_shapes))].dtype
        return (out.to(dtype) if out.is_floating_point() else out), total

    @property
    def precision(self) -> torch.dtype | None:
        """The dtype `lower_precision` set, or None."""
        return self._precision

    @contextmanager
    def lower_precision(self, dtype: torch.dtype | None) -> Iterator[None]:
        """Within it, this target's networks run under ``torch.autocast`` to ``dtype`` (None:
        full precision, also inside an outer call) and return outputs in the weights' dtype.
        Only the networks: what surrounds them (a hypernetwork, gauge fixing, an entropy
        estimate, a discriminator) keeps its precision, as the entropy's distances between
        nearby vectors would not survive bfloat16's 8-bit mantissa. Under ``vmap`` (the GPU
        path) `VmapAutocast` casts what autocast misses there. The setting belongs to the
        target, not to the calling thread: two threads sharing one target share it."""
        before, self._precision = self._precision, dtype
        try:
            yield
        finally:
            self._precision = before

    def _statistics(self, weights: WeightBatch, n: int, like: torch.Tensor
                    ) -> tuple[WeightBatch, dict[str, torch.Tensor]]:
        """Per-network running statistics for this call, and step counters shared by the
        networks: eval-mode layers read the weight batch's own statistics; train-mode layers
        normalise with batch statistics and update scratch copies (so neither the module nor
        the caller's tensors change, and nothing is pooled over networks)."""
        out: WeightBatch = {}
        counters: dict[str, torch.Tensor] = {}
        for mod_name, mod in self._norms.items():
            prefix = f"{mod_name}." if mod_name else ""
            names = [prefix + stat for stat in STAT_NAMES]
            if mod.training:
                c = mod.running_mean.shape[0]
                out[names[0]] = like.new_zeros(n, c)
                out[names[1]] = like.new_ones(n, c)
                # Shared, not (N,): with momentum=None batch norm reads it as a Python float,
                # which vmap cannot do on a batched tensor.
                counters[prefix + "num_batches_tracked"] = torch.zeros((), dtype=torch.long,
                                                                       device=like.device)
            elif names[0] not in weights:
                raise StatisticsMissing(
                    f"batch-norm layer {mod_name!r} is in eval mode but the weight batch carries no "
                    "running statistics; estimate them per network (hyperzoo.targets."
                    "estimate_bn_statistics) or evaluate in train mode")
        return out, counters

    def _apply(self, weights: WeightBatch, x: torch.Tensor, n: int, shared: bool,
               counters: dict[str, torch.Tensor], y: torch.Tensor | None = None, loss: Loss | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Evaluate with every per-network tensor (parameters, statistics) in ``weights``;
        statistics of train-mode batch norms are updated in place, network by network. With
        ``y`` and ``loss``, where autograd records in the weights (not in ``x``) and the networks
        run one at a time, also their summed losses, each network's backward taken with its
        forward (`per_network.loss_each`); else None beside the outputs."""
        # Every other buffer (num_batches_tracked, a user's constants) is shared by all networks,
        # read at each call: one replaced since (m.scale = ..., m.double()) was passed stale.
        buffers = {**{k: b for k, b in self.module.named_buffers() if k not in self.stat_shapes}, **counters}
        # vmap is the reference; on a CPU one functional_call per network was measured faster
        # (bench/step_time.py), and in training on small batches whole networks per thread
        # faster still (bench/step_rounds.py), so "auto" trains them on threads there where it
        # can (threads.usable, threads.MAX_BATCH), else loops. Without autograd (inference)
        # the loop was as fast or faster at every batch size measured, 64 to 1,024
        # (bench/results/chunking_cpu_avx512_rounds.json).
        cpu_auto = self.backend == "auto" and x.device.type == "cpu"
        chosen = cpu_auto and self._vmap_wins(x.shape[0] if shared else x.shape[1])
        if chosen:
            cpu_auto = False  # small networks: one vmap call, not a Python call per network
        if self.backend in ("loop", "threads") or cpu_auto:
            # On CPU, 2-D convolutions in channels-last layout: faster on every built-in target,
            # for inference and for training (bench/inference.py, layout_seconds_cpu).
            if (self.channels_last and x.device.type == "cpu"
                    and (self._train_channels_last or not torch.is_grad_enabled())):
                x = to_channels_last(x)
                # Only 5-D tensors change: statistics (N, C) stay the views they are.
                weights = {k: to_channels_last(v) if v.dim() == 5 else v for k, v in weights.items()}
            batch = x.shape[0] if shared else x.shape[1]
            on_threads = self.backend == "threads" or (
                cpu_auto and batch <= threads.MAX_BATCH and torch.is_grad_enabled())
            names, values = list(weights), list(weights.values())
            # Each network's backward with its forward (per_network.loss_each): not where
            # the inputs need a gradient, nor in a graph torch.compile traces.
            # Nor with hooks, which expect to see the caller's graph and gradients.
            fused = (y is not None and loss is not None and self.backward_with_forward
                     and not threads.has_hooks(self.module) and torch.is_grad_enabled()
                     and not x.requires_grad and any(v.requires_grad for v in values)
                     and not torch.compiler.is_compiling())
            if (on_threads and x.device.type == "cpu" and not self._draws_at_random
                    and threads.usable(self.module, n)):
                if fused:
                    return threads.run_loss(self._replicas, names, values, x, y, shared, buffers, loss)
                return threads.run(self._replicas, names, values, x, shared, buffers), None
            if fused:
                outs, total, grads = loss_each(self.module, names, values, x, y, shared, buffers, loss)
                return outs, WithGradients.apply(total, grads, *values)
            # Inference: 2x2 max pooling without PyTorch's index tensor (targets/pooling.py).
            pooling = (IndexFreePooling() if self.index_free_pooling and not torch.is_grad_enabled()
                       else nullcontext())
            with pooling:
                return call_each(self.module, names, values, x, shared, buffers), None

        def one(params: WeightBatch, xi: torch.Tensor) -> torch.Tensor:
            return functional_call(self.module, {**params, **buffers}, (xi,))

        device = x.device.type
        # Any autocast, ours or a caller's: under vmap it misses convolutions (vmap_autocast).
        complete = (VmapAutocast(torch.get_autocast_dtype(device))
                    if torch.is_autocast_enabled(device) else nullcontext())
        try:
            with complete:
                # "different": a target with dropout draws an independent mask for every network.
                return torch.vmap(one, in_dims=(0, None if shared else 0), randomness="different")(
                    dict(weights), x), None
        except RuntimeError as e:
            if not (chosen or self.backend == "vmap") or "vmap" not in str(e):
                raise
            # A forward vmap cannot batch (data-dependent control flow, .item()): under "auto" one
            # the trial passes did not show failing (it took another branch there).
            why = ("which target.backend 'auto' uses for small networks on the CPU" if chosen
                   else "which target.backend 'vmap' asks for")
            raise ConfigError(f"the target cannot run under torch.vmap, {why} "
                              f"({str(e).splitlines()[0]}); set target.backend: loop") from e

    def module_weights(self) -> WeightBatch:
        """The module's own parameters (and running statistics) as a batch of one network."""
        own = {**dict(self.module.named_parameters()), **dict(self.module.named_buffers())}
        return {k: own[k].detach().unsqueeze(0) for k in [*self.param_shapes, *self.stat_shapes]}


def _summed_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


# Functions that draw where their argument `training` (position 2; rrelu's 3, default False) says.
_DROPOUTS = (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout)
_RANDOM = (F.gumbel_softmax, torch.dropout, torch.rand, torch.randn, torch.randint, torch.rand_like,
           torch.randn_like, torch.randint_like, torch.bernoulli, torch.multinomial, torch.normal,
           torch.poisson, torch.randperm, torch.Tensor.bernoulli, torch.Tensor.bernoulli_,
           torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.random_, torch.Tensor.exponential_,
           torch.Tensor.geometric_, torch.Tensor.cauchy_, torch.Tensor.log_normal_)


class _Calls(TorchFunctionMode):
    """Records whether a function that draws random numbers was called, and max pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.draws = False
        self.pools = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _DROPOUTS:  # F.dropout(x, 0.0, training) draws nothing
            p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
            draws = kwargs.get("training", args[2] if len(args) > 2 else True) and p > 0
        elif func is F.rrelu:
            draws = kwargs.get("training", args[3] if len(args) > 3 else False)
        else:
            draws = func in _RANDOM
        self.draws = self.draws or bool(draws)
        plain = func in MAX_POOLS and plain_2x2_input(args, kwargs, layout=False) is not None
        self.pools = self.pools or plain
        return func(*args, **kwargs)


@contextmanager
def kept_modes(module: nn.Module) -> Iterator[None]:
    """Each submodule back in its own train/eval mode after the block (``module.train(was)``
    set every submodule to the top's: a frozen batch norm trained again)."""
    modes = [(m, m.training) for m in module.modules()]
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode for the block, then each submodule back in its own mode."""
    with kept_modes(module):
        module.eval()
        yield


def _nhwc_backward_unsafe(module: nn.Module) -> bool:
    """A strided convolution with few input channels: in torch 2.13 on CPU the NHWC backward of a
    1x1 convolution with stride >= 2 and at most 6 input channels corrupts the heap (glibc aborts:
    "free(): invalid next size"); NCHW is fine. Of kernels 1, 2, 3 and 5, strides 1 to 3 and 1 to
    12 input channels probed, only 1x1 kernels failed; this refuses every strided one under 8."""
    return isinstance(module, nn.Conv2d) and max(module.stride) > 1 and module.in_channels < 8


def check_trainable(module: nn.Module) -> None:
    """Refuse a frozen parameter (``requires_grad=False``) of a target about to be trained: every
    parameter is generated anew for each network, so it would not stay as it is. (Reopening a
    trained run does not care.)"""
    frozen = next((n for n, p in module.named_parameters() if not p.requires_grad), None)
    if frozen is not None:
        raise ConfigError(f"parameter {frozen} is frozen (requires_grad=False), but hyperzoo generates every "
                          "parameter of the target anew for each network, so it would not stay as it is: "
                          "keep a fixed part outside the module, or as a buffer")


def layer_labels(layers: tuple[LayerSpec, ...] | list[LayerSpec]) -> list[str]:
    """Names for people, in forward order: the module's own name (``conv1``, ``head``), or
    where it is only a position in a container (``net.3``) its kind and rank (``conv2``, ``fc1``)."""
    counts = {"conv": 0, "linear": 0}
    labels = []
    for spec in layers:
        counts[spec.kind] += 1
        last = spec.name.rsplit(".", 1)[-1]
        labels.append(spec.name if last and not last.isdigit()
                      else f"{'conv' if spec.kind == 'conv' else 'fc'}{counts[spec.kind]}")
    # A made-up label that repeats a module's own name would be ambiguous: keep the path there.
    return [lab if labels.count(lab) == 1 else spec.name for lab, spec in zip(labels, layers, strict=True)]

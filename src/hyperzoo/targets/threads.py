"""Networks across CPU threads: each of ``torch.get_num_threads()`` worker threads runs whole
networks of a weight batch, forward and backward, with one intra-op thread.

Small networks on small batches keep a CPU's cores busier this way than one network at a time
with every core on each operator: an operator of one small network is too short to split well,
and every split ends at a barrier. The Deutsch MNIST training step (32 networks x 32 images,
2 threads): 1.07 +- 0.09 x faster than the loop in 16 rounds (1.06 +- 0.07, 1.12 +- 0.12 and
1.09 +- 0.04 x in earlier runs; bench/results/step_rounds_cpu_2threads*.json).

The workers build and keep their own autograd graphs; `_OnThreads` joins them to the caller's
graph, so a loss that mixes networks (their cross-entropy, the entropy of their weights)
backpropagates as usual. `run_loss` instead takes each network's backward of its own loss on
its worker right after its forward (`TargetNet.cross_entropy`), so no graph is kept. Each
network's arithmetic is the same as in the one-thread loop.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
from torch import nn

from hyperzoo.targets.per_network import Loss, WithGradients, call_each, loss_each

T = TypeVar("T")

# Modules whose result depends on the order of draws from the global random generator (dropout
# in training) or on state every network updates (batch norm in training): the workers would
# make both depend on thread timing.
ORDER_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_workers() -> None:
    # A forked child has none of the parent's threads: it starts its own workers when it needs them.
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


def _one_thread() -> None:
    torch.get_num_threads()  # initialise this thread's intra-op count first, or it resets it later
    torch.set_num_threads(1)


def workers() -> ThreadPoolExecutor:
    """The worker threads for the caller's ``torch.get_num_threads()``, started on first use."""
    global _pool, _pool_size
    n = torch.get_num_threads()
    with _pool_lock:
        if _pool is None or _pool_size != n:
            if _pool is not None:
                _pool.shutdown()
            _pool, _pool_size = ThreadPoolExecutor(n, thread_name_prefix="hyperzoo-net"), n
            # Start every worker now, single-threaded, and give the caller its count back:
            # torch.set_num_threads also sets the count that later threads start from.
            barrier = threading.Barrier(n)
            list(_pool.map(lambda _: (_one_thread(), barrier.wait()), range(n)))
            torch.set_num_threads(n)
    return _pool


# Inputs per network up to which "auto" trains networks on threads (inference runs the loop:
# `TargetNet`). With many more the loop wins:
# evaluating 20 networks 1,024 images at a time took 17.2 s on threads against 10.7 s in the loop
# (bench/results/inference_cpu_20nets_threads.json: a worker's 100 MB activations outgrow its
# malloc arena; one arena for all threads narrowed that gap but took the training step's gain).
MAX_BATCH = 256


def usable(module: nn.Module, n: int) -> bool:
    """Whether the networks of ``module`` can run on threads now: more than one thread and
    network, no dropout or batch norm in training mode, no hooks (they are the caller's, on
    the caller's module; the workers call copies)."""
    if torch.get_num_threads() < 2 or n < 2:
        return False
    return not has_hooks(module) and not any((m.training and isinstance(m, ORDER_DEPENDENT))
                                             or _reaches_the_original(m) for m in module.modules())


def has_hooks(module: nn.Module) -> bool:
    """Whether ``module`` or a submodule has hooks, or torch has global module hooks: a
    caller's, who expects each network's own call to run them."""
    hooks = nn.modules.module
    return bool(hooks._global_forward_hooks or hooks._global_forward_pre_hooks
                or hooks._global_backward_hooks or hooks._global_backward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
        for m in module.modules())


def _reaches_the_original(module: nn.Module) -> bool:
    """Whether an attribute the copies take by reference leads back into the original: a module
    or a list of modules (``self.order = [self.a, self.b]``), a bound method or a function set on
    the instance (``m.forward = ...``). A copy calling it computed with the original's own
    weights, every network alike."""
    own = _own_attributes(module)
    if "forward" in own:
        return True
    for value in own.values():
        items = (value.values() if isinstance(value, dict)
                 else value if isinstance(value, (list, tuple)) else [value])
        if any(isinstance(v, nn.Module) or isinstance(getattr(v, "__self__", None), nn.Module)
               for v in items):
            return True
    return False


# Attributes every module has: torch's own (tensors, submodules, hooks), not the user's.
_TORCH_OWN = frozenset(vars(nn.Module())) - {"training"} | {"_compiled_call_impl"}


def _own_attributes(module: nn.Module) -> dict:
    """The attributes a module holds beyond torch's own: its settings, public or not."""
    return {k: v for k, v in vars(module).items() if k not in _TORCH_OWN}


class Replicas:
    """One copy of a module per worker thread (``functional_call`` swaps a module's tensors
    while it runs, so two threads cannot share one). At every call the copies take the
    original's own attributes (train/eval mode, a slope, a stride, public or not); they are made
    again when the original's submodules or its attribute names have changed since they were
    made. A module whose attributes lead back to the original (`_reaches_the_original`) does not
    run here."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._copies: list[nn.Module] = []
        self._made_of: tuple = ()

    def _layout(self) -> tuple:
        return tuple((name, id(m), tuple(_own_attributes(m))) for name, m in self.module.named_modules())

    def get(self, count: int) -> list[nn.Module]:
        layout = self._layout()
        if layout != self._made_of:
            self._copies, self._made_of = [], layout
        while len(self._copies) < count:
            self._copies.append(copy.deepcopy(self.module).requires_grad_(False))
        for replica in self._copies[:count]:
            for src, dst in zip(self.module.modules(), replica.modules(), strict=True):
                # Torch's own attributes (tensors, submodules, hooks) stay the copy's; a user's
                # `self._gain` changed after the first call was not followed.
                dst.__dict__.update(_own_attributes(src))
        return self._copies[:count]


def chunks(n: int, parts: int) -> list[range]:
    """``range(n)`` in at most ``parts`` contiguous pieces of nearly equal length."""
    parts = min(parts, n)
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def run(replicas: Replicas, names: Sequence[str], values: Sequence[torch.Tensor], x: torch.Tensor,
        shared: bool, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
    """Evaluate the networks whose per-network tensors are ``values`` ``(N, ...)`` (named
    ``names``) on ``x`` (``(B, ...)`` if ``shared``, else ``(N, B, ...)``), with ``fixed``
    tensors (buffers) shared by all; returns ``(N, B, ...)``, differentiable in ``values``
    and ``x``."""
    if torch.is_grad_enabled() and (x.requires_grad or any(v.requires_grad for v in values)):
        return _OnThreads.apply(replicas, names, shared, fixed, x, *values)
    with torch.no_grad():
        outs, _ = _forward(replicas, names, values, x, shared, fixed, grad=False)
    return torch.cat(outs)


def run_loss(replicas: Replicas, names: Sequence[str], values: Sequence[torch.Tensor], x: torch.Tensor,
             y: torch.Tensor, shared: bool, fixed: dict[str, torch.Tensor], loss: Loss,
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_network.loss_each` with the networks split over the workers: the outputs
    ``(N, B, ...)`` without autograd history, and the losses' sum, differentiable in ``values``
    (not in ``x``)."""
    def piece(module: nn.Module, rows: slice) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor | None]]:
        return loss_each(module, names, [v[rows] for v in values], x if shared else x[rows], y[rows],
                         shared, fixed, loss)

    results = _on_workers(replicas, len(values[0]), piece)
    grads = [None if parts[0] is None else torch.cat(parts)  # type: ignore[arg-type]
             for parts in zip(*(r[2] for r in results), strict=True)]
    total = torch.stack([r[1] for r in results]).sum()
    return torch.cat([r[0] for r in results]), WithGradients.apply(total, grads, *values)


def _forward(replicas: Replicas, names: Sequence[str], values: Sequence[torch.Tensor],
             x: torch.Tensor, shared: bool, fixed: dict[str, torch.Tensor], grad: bool,
             ) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, list[torch.Tensor]]]]:
    def piece(module: nn.Module, rows: slice) -> tuple[torch.Tensor, tuple[torch.Tensor, list[torch.Tensor]]]:
        with torch.set_grad_enabled(grad):  # grad mode is per thread: the caller's holds here too
            own = [v[rows].detach().requires_grad_(grad and v.requires_grad) for v in values]
            xs = (x if shared else x[rows]).detach().requires_grad_(grad and x.requires_grad)
            return call_each(module, names, own, xs, shared, fixed), (xs, own)

    results = _on_workers(replicas, len(values[0]), piece)
    return [r[0] for r in results], [r[1] for r in results]


def _on_workers(replicas: Replicas, n: int, work: Callable[[nn.Module, slice], T]) -> list[T]:
    """``work(copy, rows)`` for each contiguous piece of the ``n`` networks, one piece per
    worker thread, each with its own copy of the module and the caller's autocast (per thread
    too); the results in the networks' order."""
    pool = workers()
    cast = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    pieces = chunks(n, _pool_size)
    modules = replicas.get(len(pieces))

    def piece(job: int) -> T:
        with torch.autocast("cpu", cast, enabled=cast is not None):
            return work(modules[job], slice(pieces[job].start, pieces[job].stop))

    return list(pool.map(piece, range(len(pieces))))


class _OnThreads(torch.autograd.Function):
    """The workers' graphs as one node of the caller's: forward runs the pieces on the workers
    and keeps their graphs; backward runs each piece's backward on its worker."""

    @staticmethod
    def forward(ctx, replicas: Replicas, names: Sequence[str], shared: bool,  # type: ignore[override]
                fixed: dict[str, torch.Tensor], x: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        outs, leaves = _forward(replicas, names, values, x, shared, fixed, grad=True)
        ctx.outs, ctx.leaves, ctx.shared = outs, leaves, shared
        return torch.cat([o.detach() for o in outs])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        pool = workers()
        starts = [0]
        for o in ctx.outs:
            starts.append(starts[-1] + len(o))

        def piece(job: int) -> list[torch.Tensor | None]:
            xs, own = ctx.leaves[job]
            wanted = [t for t in (xs, *own) if t.requires_grad]
            # retain_graph: the caller may backpropagate through this node again.
            grads = iter(torch.autograd.grad(ctx.outs[job], wanted,
                                             grad_out[starts[job]:starts[job + 1]], retain_graph=True))
            return [next(grads) if t.requires_grad else None for t in (xs, *own)]

        per_piece = list(pool.map(piece, range(len(ctx.outs))))
        grad_x = _join([p[0] for p in per_piece], sum_them=ctx.shared)
        grad_values = [_join([p[i] for p in per_piece], sum_them=False)
                       for i in range(1, len(per_piece[0]))]
        return (None, None, None, None, grad_x, *grad_values)


def _join(parts: list[torch.Tensor | None], sum_them: bool) -> torch.Tensor | None:
    if parts[0] is None:
        return None
    return torch.stack(parts).sum(0) if sum_them else torch.cat(parts)  # type: ignore[arg-type]


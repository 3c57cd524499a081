"""One ``functional_call`` per network: the CPU loop's evaluation, run by `TargetNet` and by
each worker of `threads`; and its training variant, each network's backward right after its
forward (`loss_each`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

# outputs (B, ...) and targets (B, ...) of one network -> the sum of its examples' losses.
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _each(values: Sequence[torch.Tensor], x: torch.Tensor, shared: bool) -> tuple:
    # unbind, not v[i]: each select's backward writes a zero tensor of the whole batch's size,
    # N of them per step; unbind's backward stacks the N gradients once.
    nets = zip(*(v.unbind(0) for v in values), strict=True)
    return nets, [x] * len(values[0]) if shared else x.unbind(0)


def call_each(module: nn.Module, names: Sequence[str], values: Sequence[torch.Tensor], x: torch.Tensor,
              shared: bool, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
    """``module`` with the tensors ``values`` ``(N, ...)`` (named ``names``) of each network in
    turn, and ``fixed`` (buffers) for all, on ``x`` (``(B, ...)`` if ``shared``, else
    ``(N, B, ...)``): ``(N, B, ...)``."""
    nets, inputs = _each(values, x, shared)
    return torch.stack([functional_call(module, {**dict(zip(names, params, strict=True)), **fixed}, (xi,))
                        for params, xi in zip(nets, inputs, strict=True)])


def loss_each(module: nn.Module, names: Sequence[str], values: Sequence[torch.Tensor], x: torch.Tensor,
              y: torch.Tensor, shared: bool, fixed: dict[str, torch.Tensor], loss: Loss,
              ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor | None]]:
    """`call_each`'s outputs ``(N, B, ...)`` (without autograd history), and for each network
    ``loss(outputs, y[i])`` with its gradient with respect to those of its ``values`` that
    require one, taken right after the network's forward: its activations are freed before the
    next network runs, so memory holds one network's, and the next reuses it while in cache,
    instead of all N networks' until a backward pass at the end. Returns the outputs, the
    losses summed over networks and the gradients ``(N, ...)`` (None where a value needs none).
    A caller's autocast covers the forward only; the loss and its backward run outside it."""
    nets, inputs = _each(values, x, shared)
    device = x.device.type
    wanted = [v.requires_grad for v in values]
    outs, totals, grads = [], [], []
    for params, xi, yi in zip(nets, inputs, y.unbind(0), strict=True):
        leaves = [p.detach().requires_grad_() if w else p for p, w in zip(params, wanted, strict=True)]
        with torch.enable_grad():
            out = functional_call(module, {**dict(zip(names, leaves, strict=True)), **fixed}, (xi,))
            with torch.autocast(device, enabled=False):
                value = loss(out.to(values[0].dtype), yi)
                # A parameter a network's forward did not use (a block skipped at random) gets
                # zeros, as in one backward over all networks.
                got = iter(torch.autograd.grad(value, [p for p, w in zip(leaves, wanted, strict=True) if w],
                                               allow_unused=True, materialize_grads=True))
        outs.append(out.detach())
        totals.append(value.detach())
        grads.append([next(got) if w else None for w in wanted])
    per_value = [torch.stack(g) if w else None for g, w in zip(zip(*grads, strict=True), wanted, strict=True)]
    return torch.stack(outs), torch.stack(totals).sum(), per_value


class WithGradients(torch.autograd.Function):
    """``total`` (a detached scalar) as a function of ``values``, whose gradients ``grads``
    (one per value, None for none) were computed with it (`loss_each`): backward scales them.
    First derivatives only: a backward with ``create_graph`` (a gradient penalty) is refused,
    as these gradients carry no history and the penalty's own gradient would be lost."""

    @staticmethod
    def forward(ctx, total: torch.Tensor, grads: list[torch.Tensor | None],  # type: ignore[override]
                *values: torch.Tensor) -> torch.Tensor:
        # Saved, not kept as attributes: autograd frees them after the backward pass.
        ctx.save_for_backward(*(g for g in grads if g is not None))
        ctx.present = [g is not None for g in grads]
        return total.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        if torch.is_grad_enabled():  # the engine enables grad mode for create_graph only
            raise RuntimeError("TargetNet.cross_entropy took each network's backward with its forward, "
                               "which gives no second derivatives (create_graph=True): set the target's "
                               "backward_with_forward = False for a loss that needs them")
        saved = iter(ctx.saved_tensors)
        return None, None, *(grad * next(saved) if present else None for present in ctx.present)

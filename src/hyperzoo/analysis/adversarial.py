"""Fast gradient sign method and projected gradient descent (seed 000 §4.2.3, seed 002 §4.5).

``model`` maps inputs (B, ...) to logits (B, C). Pixels live in ``[lo, hi]``; ε is given as a
fraction of that range, as in the paper. Targeted attacks (``targeted=True``, the default)
lower the loss of class ``target``; untargeted ones raise the loss of the true label passed
as ``target``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Model = Callable[[torch.Tensor], torch.Tensor]


def _step_toward(model: Model, x: torch.Tensor, target: torch.Tensor, targeted: bool = True
                 ) -> torch.Tensor:
    """Sign of the gradient that lowers (targeted) or raises (untargeted) the loss of ``target``."""
    x = x.detach().requires_grad_()
    loss = F.cross_entropy(model(x), target)
    (grad,) = torch.autograd.grad(loss, x)
    return -grad.sign() if targeted else grad.sign()


def input_range(x: torch.Tensor) -> tuple[float, float]:
    """The box attacks stay in: [0, 1] (pixels) stretched to hold every value of ``x`` (inputs
    of your own may be standardised), so an attack never moves a clean input by clipping it."""
    return min(0.0, float(x.min())), max(1.0, float(x.max()))


def fgsm(model: Model, x: torch.Tensor, target: torch.Tensor, eps: float,
         lo: float = 0.0, hi: float = 1.0, targeted: bool = True) -> torch.Tensor:
    """FGSM: one step of size ``eps·(hi − lo)`` toward (or away from) class ``target``, clipped."""
    if eps < 0:
        raise ValueError(f"eps must be non-negative, got {eps}")
    step = eps * (hi - lo)
    return (x + step * _step_toward(model, x, target, targeted)).clamp(lo, hi).detach()


def pgd(model: Model, x: torch.Tensor, target: torch.Tensor, eps: float, steps: int = 10,
        step_size: float | None = None, lo: float = 0.0, hi: float = 1.0, targeted: bool = True,
        random_start: torch.Generator | None = None) -> torch.Tensor:
    """PGD in the L∞ ball of radius ``eps·(hi − lo)`` around ``x``, ``steps`` signed steps of
    ``step_size`` in the inputs' own units (not a fraction of the range; default 2.5 × radius /
    steps). It starts at ``x`` (the report's attacks), or with ``random_start`` at a point drawn
    uniformly in the ball from that generator (Madry et al.), stronger where the gradient at ``x``
    is flat."""
    if eps < 0 or steps < 1:
        raise ValueError(f"need eps >= 0 and steps >= 1, got eps={eps}, steps={steps}")
    radius = eps * (hi - lo)
    alpha = step_size if step_size is not None else 2.5 * radius / steps
    adv = x.detach()
    if random_start is not None:
        noise = torch.rand(x.shape, generator=random_start, dtype=x.dtype).to(x.device)
        adv = (adv + radius * (2 * noise - 1)).clamp(lo, hi)
    for _ in range(steps):
        adv = adv + alpha * _step_toward(model, adv, target, targeted)
        adv = torch.minimum(torch.maximum(adv, x - radius), x + radius).clamp(lo, hi).detach()
    return adv


def random_targets(y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
    """A target class different from the true one for each label, uniformly."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator)
    return (y + shift) % num_classes

"""Baseline: N independently trained networks (a deep ensemble, "L2 ensemble" of seed 002).

The weight batch itself is the parameter set, so the same trainer, evaluation and export run
on it; each network has its own random initialisation (the target module's own initialiser,
drawn afresh per member) and sees its own images. ``weight_decay`` adds the ℓ2 penalty of the
L2 ensemble. Deep ensembles as published (Lakshminarayanan et al. 2017): the same, trained on
the NLL (a proper scoring rule) and, with ``adversarial_eps`` = ε > 0, on adversarial examples
too: each member's loss is NLL(x) + NLL(x + ε·sign ∇ₓNLL(x)) (fast gradient sign, the
perturbation held constant), with the paper's ε = 0.01 × the input range (0.01 for inputs
in [0, 1], as hyperzoo's data sets are).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hyperzoo.config import ConfigError, check_bounds
from hyperzoo.methods.base import Method, fresh_parameters, own_parameters, param_key
from hyperzoo.notes import note
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class EnsembleConfig:
    name: str = "ensemble"
    size: int = 10
    weight_decay: float = 0.0
    # ε of adversarial training, in input units (0: off; the paper: 0.01 × input range).
    adversarial_eps: float = 0.0

    def __post_init__(self) -> None:
        check_bounds("method", self, at_least={"size": 1, "adversarial_eps": 0, "weight_decay": 0})


def _init_differs(own: dict[str, torch.Tensor], members: dict[str, torch.Tensor]) -> list[str]:
    """Parameters whose members ``(size, *shape)`` visibly start otherwise than the module's own:
    a constant of its own (a zero-initialised head, batch-norm scales at 0) the members do not
    share, or a spread off by more than half (kaiming fan_out against PyTorch's default) where
    100 values or more make a spread worth comparing."""
    changed = []
    for name, mine in own.items():
        theirs = members[name].to(mine.device)
        if mine.numel() > 1 and bool(mine.min() == mine.max()):  # one value is no initialisation scheme
            if not bool((theirs == mine).all()):
                changed.append(name)
        elif mine.numel() >= 100:
            ratio = float(mine.std() / theirs.std()) if bool(theirs.std() > 0) else float("inf")
            if not 1 / 1.5 < ratio < 1.5:
                changed.append(name)
    return changed


class IndependentEnsemble(Method):
    """``size`` networks trained side by side, each with its own minibatch."""

    def __init__(self, target: TargetNet, config: EnsembleConfig):
        super().__init__(target)
        self.config = config
        inits = [fresh_parameters(target.module) for _ in range(config.size)]
        self.params = nn.ParameterDict({
            param_key(name): nn.Parameter(torch.stack([p[name] for p in inits]))
            for name in target.param_shapes})

    @classmethod
    def networks_per_step(cls, config: EnsembleConfig) -> int:
        return config.size

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        if noise_batch != self.config.size:
            raise ConfigError(f"method 'ensemble' trains one minibatch per member: set "
                              f"train.noise_batch={self.config.size} or leave it unset (got {noise_batch})")
        if hasattr(self, "params"):  # built (`check_settings` asks a bare instance)
            changed = _init_differs(own_parameters(self.target.module),
                                    {k: self.params[param_key(k)].detach() for k in self.target.param_shapes})
            if changed:
                note(f"method 'ensemble' starts each member from its layers' reset_parameters, not from "
                     f"your module's own initialisation, which differs for {', '.join(changed[:4])}"
                     f"{' and more' if len(changed) > 4 else ''}: define reset_parameters on your model "
                     "(it runs after its layers') to initialise every member your way")

    @property
    def max_networks(self) -> int:
        return self.config.size

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        """The first ``n`` members (the ensemble is finite: ``n`` ≤ size)."""
        if n > self.config.size:
            raise ValueError(f"an ensemble of {self.config.size} networks cannot give {n}; "
                             f"train with method.size >= {n}")
        return {name: self.params[param_key(name)][:n] for name in self.target.param_shapes}

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        n = self.config.size
        if x.shape[0] != n:
            raise ValueError(f"method 'ensemble' trains one minibatch per member: set "
                             f"train.noise_batch={n} (got {x.shape[0]})")
        weights = self.sample(n)
        eps = self.config.adversarial_eps
        if eps:
            x = x.detach().requires_grad_(True)
        logits, ce = self.target.cross_entropy(weights, x, y)
        # Sum over members so each network's gradient is that of its own mean loss.
        ce = ce * n
        loss = ce
        terms = {}
        if eps:
            # Member i's images feed only member i, so one gradient of the summed loss holds
            # every member's own input gradient.
            grad_x, = torch.autograd.grad(ce, x, retain_graph=True)
            x_adv = (x + eps * grad_x.sign()).detach()
            adv = self.target.cross_entropy(weights, x_adv, y)[1] * n
            loss = loss + adv
            terms["adversarial_cross_entropy"] = adv.detach() / n
        if self.config.weight_decay:
            loss = loss + self.config.weight_decay * sum(w.pow(2).sum() for w in weights.values())
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy, "cross_entropy": ce.detach() / n, **terms}

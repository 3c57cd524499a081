"""Baseline: N independently trained networks (a deep ensemble, "L2 ensemble" of seed 002).

The weight batch itself is the parameter set, so the same trainer, evaluation and export run
on it; each network is initialised as the target module initialises itself and sees its own
images. ``weight_decay`` adds the ℓ2 penalty of the L2 ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.errors import ConfigError
from hyperzoo.methods.base import Method, fresh_parameters, param_key
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class EnsembleConfig:
    name: str = "ensemble"
    size: int = 10
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"method.size must be at least 1, got {self.size}")
        if self.weight_decay < 0:
            raise ValueError(f"method.weight_decay must be non-negative, got {self.weight_decay}")


class IndependentEnsemble(Method):
    """``size`` networks trained side by side, each with its own minibatch."""

    def __init__(self, target: TargetNet, config: EnsembleConfig):
        super().__init__(target)
        self.config = config
        inits = [fresh_parameters(target.module) for _ in range(config.size)]
        self.params = nn.ParameterDict({
            param_key(name): nn.Parameter(torch.stack([p[name] for p in inits]))
            for name in target.param_shapes})

    def check_training(self, noise_batch: int) -> None:
        if noise_batch != self.config.size:
            raise ConfigError(f"method 'ensemble' trains one minibatch per member: set "
                              f"train.noise_batch={self.config.size} (got {noise_batch})")

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
        logits = self.target(weights, x)
        # Sum over members so each network's gradient is that of its own mean loss.
        ce = F.cross_entropy(logits.flatten(0, 1), y.flatten()) * n
        loss = ce
        if self.config.weight_decay:
            loss = loss + self.config.weight_decay * sum(w.pow(2).sum() for w in weights.values())
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy, "cross_entropy": ce.detach() / n}

"""One trained network: the common part of the baselines that sample around a single SGD run.

The network is initialised as the target module initialises itself and trained on its own
minibatch (``train.noise_batch`` 1, its default here; ``train.images_per_noise`` is the batch size), on
cross-entropy plus ``weight_decay`` · ‖w‖² (the ℓ2 term of the ensemble baseline: with plain
SGD it equals the optimizer's weight decay 2 · ``weight_decay``). Subclasses say how networks
are sampled from it. (The single network itself, seed 003 Table 1 column (a), is
``method.name: ensemble`` with ``size: 1``.)
"""

from __future__ import annotations

import torch
from torch import nn

from hyperzoo.config import ConfigError
from hyperzoo.methods.base import Method, own_parameters, param_key
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


class SingleNetwork(Method):
    """One network's parameters, ``params[key]`` of the target's shapes (no ensemble axis)."""

    method_name = "single"

    def __init__(self, target: TargetNet, weight_decay: float):
        super().__init__(target)
        self.weight_decay = weight_decay
        self.params = nn.ParameterDict({param_key(k): nn.Parameter(p)
                                        for k, p in own_parameters(target.module).items()})

    def current(self) -> dict[str, torch.Tensor]:
        """The trained network's weights, name → (*shape)."""
        return {k: self.params[param_key(k)] for k in self.target.param_shapes}

    @classmethod
    def networks_per_step(cls, config: object) -> int:
        return 1

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        if noise_batch != 1:
            raise ConfigError(f"method {self.method_name!r} trains one network: set train.noise_batch=1 or "
                              f"leave it unset (got {noise_batch}); train.images_per_noise is its batch size")

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Cross-entropy of the network on ``x`` (1, M, ...), ``y`` (1, M), plus the ℓ2 term."""
        self.check_training(x.shape[0])
        weights: WeightBatch = {k: w[None] for k, w in self.current().items()}
        logits, ce = self.target.cross_entropy(weights, x, y)  # logits (1, M, C)
        loss = ce
        if self.weight_decay:
            loss = loss + self.weight_decay * sum(w.pow(2).sum() for w in weights.values())
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy, "cross_entropy": ce.detach()}

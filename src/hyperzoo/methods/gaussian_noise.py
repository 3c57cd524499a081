"""Baseline: Gaussian noise around one trained network (issue 14's "Gaussian noise added to one
trained network's weights (tuned scale)").

One network trains as in `SingleNetwork` (like a member of the ensemble baseline). A sampled
network adds independent N(0, (σ · s_l)²) noise to every weight of parameter tensor l, where
s_l = sqrt(mean(w_l²)) is the RMS of that trained tensor: one relative scale σ for tensors of
any size. σ is the buffer ``sigma``, initialised from ``method.sigma`` and saved with the
model, so `hyperzoo.tuning.tune_noise_scale` (``hyperzoo tune-noise RUN``) can write the σ of
least validation NLL into the checkpoint, which evaluate, sample, report and ood then use.
Training does not depend on σ (only validation during training samples with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hyperzoo.config import ConfigError, check_bounds
from hyperzoo.devices import normal, per_network
from hyperzoo.methods.single import SingleNetwork
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class GaussianNoiseConfig:
    name: str = "gaussian_noise"
    sigma: float = 0.1
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.sigma):
            raise ConfigError(f"config key 'method.sigma' = {self.sigma!r} must be a finite number")
        check_bounds("method", self, at_least={"sigma": 0, "weight_decay": 0})


class GaussianNoise(SingleNetwork):
    """One network; samples are it plus Gaussian noise scaled per tensor by its RMS."""

    method_name = "gaussian_noise"

    def __init__(self, target: TargetNet, config: GaussianNoiseConfig):
        super().__init__(target, config.weight_decay)
        self.config = config
        self.register_buffer("sigma", torch.tensor(config.sigma, dtype=torch.float64))

    def scales(self) -> dict[str, torch.Tensor]:
        """σ · s_l per parameter tensor: name → scalar."""
        sigma = self.sigma
        return {k: sigma.to(w.dtype) * w.detach().pow(2).mean().sqrt() for k, w in self.current().items()}

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        """``n`` networks ``(n, *shape)``: the trained weights plus N(0, (σ s_l)²) noise."""
        scales, current = self.scales(), self.current()
        w0 = next(iter(current.values()))
        # One draw for every tensor (on the CPU): network i is the same whatever the number drawn.
        noise = per_network(n, [tuple(w.shape) for w in current.values()],
                            lambda shape: normal(shape, generator, w0.device, w0.dtype))
        return {k: w + scales[k] * e for (k, w), e in zip(current.items(), noise, strict=True)}

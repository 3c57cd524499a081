"""The toy problem of seed 000 §4.1 as a method: 1-D noise mapped onto a 2-D Gaussian mixture.

Each "network" is a point of the plane, held as the 2×1 weight of ``nn.Linear(1, 2,
bias=False)`` (the built-in target ``point``), so it is a weight batch like any other and trains
through the common trainer. An MLP z ∈ [−1, 1] → R² is trained for high mixture density and
high entropy (Kozachenko–Leonenko with d = 1), with an ℓ2 penalty instead of gauge fixing (a
point has no symmetries): ``λ·E[−log p_mix(G(z))] − Ĥ[G(z)] + l2·E‖G(z)‖²``. Its image is a
path through the peaks; where the path must cross low density, the samples thin out. The
objective needs no data set (``data.dataset: none``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hyperzoo.devices import uniform
from hyperzoo.diversity import kl_entropy
from hyperzoo.errors import ConfigError
from hyperzoo.methods.base import LatentMethod
from hyperzoo.notes import note
from hyperzoo.schedules import geometric_ramp
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class ToyMixtureConfig:
    name: str = "toy_mixture"
    centers: list[list[float]] = field(default_factory=lambda: [[-2.0, -1.5], [0.0, 2.0], [2.0, -1.0],
                                                                [-1.5, 1.2], [1.6, 1.4]])
    weights: list[float] = field(default_factory=lambda: [0.25, 0.2, 0.25, 0.15, 0.15])
    sigma: float = 0.35
    hidden: list[int] = field(default_factory=lambda: [30, 10, 10])
    # λ grows from lam_start to lam: early on the entropy spreads the path, then the density
    # pulls it onto the peaks (a fixed λ often left the path folded onto one or two peaks).
    lam: float = 0.5
    lam_start: float = 0.02
    lam_warmup_steps: int = 2000
    l2: float = 1e-3

    def __post_init__(self) -> None:
        if len(self.centers) != len(self.weights) or any(len(c) != 2 for c in self.centers):
            raise ConfigError(f"method.centers must be {len(self.weights)} points [x, y], one per weight "
                              f"in method.weights, got {self.centers}")
        if self.sigma <= 0 or self.lam <= 0 or self.lam_start <= 0 or self.l2 < 0:
            raise ConfigError("method.sigma, method.lam and method.lam_start must be positive and "
                              f"method.l2 non-negative, got {self.sigma}, {self.lam}, {self.lam_start}, "
                              f"{self.l2}")


def mixture_density(p: torch.Tensor, centers: torch.Tensor, weights: torch.Tensor, sigma: float
                    ) -> torch.Tensor:
    """Density of the isotropic Gaussian mixture at points ``p`` (..., 2): centres (K, 2),
    weights (K,)."""
    sq = (p[..., None, :] - centers).pow(2).sum(-1)  # (..., K)
    return (weights * torch.exp(-sq / (2 * sigma**2))).sum(-1) / (2 * math.pi * sigma**2)


class ToyMixture(LatentMethod):
    """An MLP 1 → hidden (ReLU) → 2 whose outputs are the points."""

    needs_data = False

    def __init__(self, target: TargetNet, config: ToyMixtureConfig):
        super().__init__(target)
        if target.param_shapes != {"weight": (2, 1)}:
            raise ConfigError(f"method 'toy_mixture' generates points of the plane: its target must be "
                              f"'point' (nn.Linear(1, 2, bias=False)), got parameters {target.param_shapes}")
        self.config = c = config
        sizes = [1, *c.hidden, 2]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.generator = nn.Sequential(*layers[:-1])
        self.register_buffer("centers", torch.tensor(c.centers))
        self.register_buffer("mixture_weights", torch.tensor(c.weights))

    @property
    def latent_dim(self) -> int:
        return 1

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return uniform((n, 1), -1.0, 1.0, generator, self.centers.device)

    def points(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): (n, 1) → (n, 2)."""
        return self.generator(z)

    def generate(self, z: torch.Tensor) -> WeightBatch:
        return {"weight": self.points(z)[:, :, None]}

    def density(self, p: torch.Tensor) -> torch.Tensor:
        """The mixture's density at points ``p`` (..., 2)."""
        return mixture_density(p, self.centers, self.mixture_weights, self.config.sigma)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``x`` (N, 0) and ``y`` (N, 0) hold no examples (the objective is the mixture itself);
        they give the number of points N."""
        c = self.config
        p = self.points(self.noise(x.shape[0], generator))
        nll = -self.density(p).clamp_min(1e-30).log().mean()
        entropy = kl_entropy(p, d=1)
        lam = geometric_ramp(step, c.lam_start, c.lam, c.lam_warmup_steps)
        loss = lam * nll - entropy + c.l2 * p.pow(2).sum(1).mean()
        return {"loss": loss, "nll": nll.detach(), "entropy": entropy.detach(),
                "lam": torch.full((), lam, device=p.device)}

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        warmup = self.config.lam_warmup_steps
        if warmup < 0:  # accepted, read as no ramp
            raise ConfigError(f"method.lam_warmup_steps must be at least 0, got {warmup}")
        if noise_batch < 2:
            raise ConfigError(f"train.noise_batch must be at least 2 for an entropy estimate, "
                              f"got {noise_batch}")
        if steps is not None and steps < warmup:
            # It stopped on the ramp, its λ never the method.lam the config names.
            note(f"method.lam_warmup_steps {warmup} is longer than train.steps {steps}: λ ends "
                 f"at {geometric_ramp(steps, self.config.lam_start, self.config.lam, warmup):.3g}, not "
                 f"method.lam {self.config.lam:g}")

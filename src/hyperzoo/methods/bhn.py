"""Baseline: Bayesian hypernetwork (BHN, Krueger et al. 2017) in its weight-normalised form.

Every filter (unit) i of every generated layer is weight-normalised, W_i = g_i · v_i / ‖v_i‖:
the directions v and the biases are point estimates; the scales g of all units together are
random, the push of Gaussian noise through a normalizing flow:

    ε ~ N(0, I_D),  u = f(ε) (coupling layers),  g = g₀ + e^s ⊙ u      (D = all units)

The final element-wise affine map starts g at the units' initial norms with spread e^s (the
reference code puts its affine layer first; last, the random initial coupling cannot move
the networks away from their initialisation, and here the coupling starts as the identity
anyway). Trained by the variational objective with the prior p(g) = N(0, prior_var I) (the
reference code: a standard normal on the generated parameters):

    loss = mean NLL + KL / dataset_size,  KL ≈ mean over networks of log q(g) − log p(g),
    log q(g) = log N(ε; 0, I) − log|det ∂f/∂ε| − Σ s,

a Monte Carlo estimate at the drawn networks themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hyperzoo.config import ConfigError, check_bounds
from hyperzoo.devices import normal
from hyperzoo.methods.base import Method, SharedNorms, own_parameters, param_key
from hyperzoo.methods.flows import CouplingFlow, gaussian_log_prob
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class BHNConfig:
    name: str = "bhn"
    flows: int = 2  # coupling layers of the hypernetwork
    # Hidden units of each coupling conditioner. The reference code's 200 (with 4 layers) let
    # the flow widen q(g) within 10 steps on the digits (Adam moves every conditioner weight
    # at the full rate however small the KL's 1/N share of the gradient), and training sat
    # near chance for 100 steps; 64 learned at once.
    flow_hidden: int = 64
    prior_var: float = 1.0
    init_std: float = 0.05  # initial spread of each scale g around its unit's initial norm
    # Training-set size N: the loss is NLL + KL / N per example. None: the trainer fills in
    # the size of the training split.
    dataset_size: int | None = None
    # Multiplies the KL term (1: the variational bound). Below 1 tempers the posterior.
    kl_weight: float = 1.0

    def __post_init__(self) -> None:
        check_bounds("method", self, at_least={"flows": 0, "flow_hidden": 1, "dataset_size": 1,
                                               "kl_weight": 0},
                     above={"prior_var": 0, "init_std": 0})


class BayesianHypernetwork(Method):
    """A flow over the weight-norm scales of every unit of any `TargetNet`."""

    def __init__(self, target: TargetNet, config: BHNConfig):
        super().__init__(target)
        self.config = c = config
        init = own_parameters(target.module)
        self.directions = nn.ParameterDict({param_key(s.weight): nn.Parameter(init[s.weight])
                                            for s in target.layers})
        self.biases = nn.ParameterDict({param_key(s.bias): nn.Parameter(init[s.bias])
                                        for s in target.layers if s.bias is not None})
        self.norms = SharedNorms(target, init)
        self.units = [s.out_units for s in target.layers]
        norms = torch.cat([init[s.weight].flatten(1).norm(dim=1) for s in target.layers])
        self.flow = CouplingFlow(sum(self.units), c.flows, c.flow_hidden)
        self.scale_loc = nn.Parameter(norms)
        self.scale_log_std = nn.Parameter(torch.full_like(norms, math.log(c.init_std)))

    @property
    def latent_dim(self) -> int:
        return sum(self.units)

    def scales(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise ``eps`` (N, D) → scales g (N, D) and log q(g) (N,)."""
        u, ladj = self.flow(eps)
        g = self.scale_loc + self.scale_log_std.exp() * u
        zero = torch.zeros_like(eps)
        return g, gaussian_log_prob(eps, zero, zero) - ladj - self.scale_log_std.sum()

    def weights(self, g: torch.Tensor) -> WeightBatch:
        """The networks of scales g (N, D): each unit's direction at norm g (signed)."""
        n = g.shape[0]
        weights: WeightBatch = {}
        for spec, gl in zip(self.target.layers, g.split(self.units, dim=1), strict=True):
            v = self.directions[param_key(spec.weight)]
            unit = v / v.flatten(1).norm(dim=1).view(-1, *[1] * (v.dim() - 1))
            weights[spec.weight] = gl.view(n, -1, *[1] * (v.dim() - 1)) * unit
            if spec.bias is not None:
                weights[spec.bias] = self.biases[param_key(spec.bias)].expand(n, -1)
        return {**weights, **self.norms.expand(n)}

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return normal((n, self.latent_dim), generator, self.scale_loc.device, self.scale_loc.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        return self.weights(self.scales(self.noise(n, generator))[0])

    def kl_estimate(self, g: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """log q(g) − log p(g) per network (N,)."""
        log_var = torch.full_like(g, math.log(self.config.prior_var))
        return log_q - gaussian_log_prob(g, torch.zeros_like(g), log_var)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        c = self.config
        if c.dataset_size is None:
            raise ConfigError("method.dataset_size is not set: the KL term is divided by the number "
                              "of training examples (the trainer sets it from the data)")
        g, log_q = self.scales(self.noise(x.shape[0], generator))
        logits, nll = self.target.cross_entropy(self.weights(g), x, y)  # logits (N, M, C)
        kl = self.kl_estimate(g, log_q).mean()
        loss = nll + c.kl_weight * kl / c.dataset_size
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy, "cross_entropy": nll.detach(), "kl": kl.detach()}

"""Baseline: multiplicative normalizing flows (MNF, Louizos & Welling 2017; "MNFG" of seeds 000/001).

Every generated layer has Gaussian weights whose means are scaled by multiplicative noise z
drawn from a normalizing flow:

    z₀ ~ N(m, diag v),  z = f_q(z₀)                    (one z per layer and network)
    W | z ~ N(z ⊙ μ, σ²)                                (z scales the means of a unit's weights)

z has one entry per input unit of a linear layer (scaling a column of W) and, as in the
paper's convolutional layers, one per filter of a conv layer (scaling the filter and its
bias). A sample is drawn once per network, z then W = z ⊙ μ + σ ε: an ordinary weight batch,
so evaluation, export and the analyses run on it unchanged (the paper trains with the local
reparameterisation trick; drawing whole networks is the same posterior, with noisier
gradients).

The KL term of the bound needs the auxiliary r(z | W), an inverse model of z given the weights:
f_r(z) ~ N(ν(W), diag exp(−λ(W))) with a = tanh(cᵀM), ν = b₁ · mean(a), λ = b₂ · mean(a), where M
holds W with one row per entry of z (W's columns for a linear layer; each filter and its bias
for a conv layer); the paper's eq. for ν, λ, applied to conv layers too (its code drops the
tanh there). Per network, with everything evaluated at the sample (z₀, z, W):

    KL ≈ KL(q(W|z) ‖ p(W)) + log q(z) − log r(z | W),
    log q(z) = log N(z₀; m, v) − log|det ∂f_q/∂z₀|,
    log r(z|W) = log N(f_r(z); ν, e^{−λ}) + log|det ∂f_r/∂z|,

with the prior p(W) = N(0, prior_var) on every weight and bias (the paper's code: a standard
normal). Training loss = mean NLL of the minibatch + mean KL over the networks / dataset_size,
i.e. the negative bound per training example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hyperzoo import devices
from hyperzoo.config import ConfigError, check_bounds
from hyperzoo.methods.base import Method, SharedNorms, own_parameters
from hyperzoo.methods.flows import CouplingFlow, gaussian_log_prob
from hyperzoo.targets import TargetNet
from hyperzoo.targets.target_net import LayerSpec
from hyperzoo.weights import WeightBatch


@dataclass
class MNFConfig:
    name: str = "mnf"
    flows_q: int = 2  # coupling layers of q(z) (the paper: 2)
    flows_r: int = 2  # coupling layers of r(z | W) (the paper: 2)
    flow_hidden: int = 50  # hidden units of each coupling conditioner (paper: 50; r: twice that)
    prior_var: float = 1.0
    # log σ² of every weight at the start (σ = 0.011). The paper's code sets log σ = −9 there
    # (σ = 1.2e-4, i.e. log σ² = −18); the committed runs used this default.
    init_log_var: float = -9.0
    z_init_var: float = 0.1  # variance of z₀ at the start, around mean 1 (the paper's code: 0.1)
    # Training-set size N: the loss is NLL + KL / N per example. None: the trainer fills in
    # the size of the training split.
    dataset_size: int | None = None
    # Multiplies the KL term (1: the variational bound). Below 1 tempers the posterior.
    kl_weight: float = 1.0

    def __post_init__(self) -> None:
        check_bounds("method", self, at_least={"flows_q": 0, "flows_r": 0, "flow_hidden": 1,
                                               "dataset_size": 1, "kl_weight": 0},
                     above={"prior_var": 0, "z_init_var": 0})


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor, prior_var: float) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) ‖ N(0, prior_var)) per network: summed over all but axis 0."""
    kl = 0.5 * (math.log(prior_var) - log_var + (log_var.exp() + mean.pow(2)) / prior_var - 1)
    return kl.flatten(1).sum(1)


class MNFLayer(nn.Module):
    """The variational posterior of one conv or linear layer."""

    def __init__(self, spec: LayerSpec, weight: torch.Tensor, bias: torch.Tensor | None, c: MNFConfig):
        super().__init__()
        self.spec = spec
        # Axis of W that z scales: filters of a conv layer, input units of a linear one.
        self.z_axis = 0 if spec.kind == "conv" else 1
        d = spec.weight_shape[self.z_axis]
        self.weight_mean = nn.Parameter(weight.clone())
        self.weight_log_var = nn.Parameter(torch.full_like(weight, c.init_log_var))
        self.bias_mean = nn.Parameter(bias.clone()) if bias is not None else None
        self.bias_log_var = nn.Parameter(torch.full_like(bias, c.init_log_var)) if bias is not None else None
        self.z_mean = nn.Parameter(torch.ones(d))
        self.z_log_var = nn.Parameter(torch.full((d,), math.log(c.z_init_var)))
        self.flow_q = CouplingFlow(d, c.flows_q, c.flow_hidden)
        # r(z | W): c projects the rows of M, b1 and b2 map the projection to mean and log-precision.
        self.r_c = nn.Parameter(torch.randn(d) / math.sqrt(d))
        self.r_b1 = nn.Parameter(0.1 * torch.randn(d))
        self.r_b2 = nn.Parameter(0.1 * torch.randn(d))
        self.flow_r = CouplingFlow(d, c.flows_r, 2 * c.flow_hidden)

    @property
    def z_dim(self) -> int:
        return self.z_mean.numel()

    def draw_z(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base noise ``eps`` (N, d) → z (N, d) and log q(z) (N,)."""
        z0 = self.z_mean + (0.5 * self.z_log_var).exp() * eps
        z, ladj = self.flow_q(z0)
        return z, gaussian_log_prob(z0, self.z_mean, self.z_log_var) - ladj

    def _z_view(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, d) shaped to broadcast against W (N, *weight_shape)."""
        shape = [z.shape[0]] + [1] * len(self.spec.weight_shape)
        shape[1 + self.z_axis] = self.z_dim
        return z.reshape(shape)

    def conditional_means(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Means of q(W | z): the weight's z ⊙ μ; a conv bias is scaled by its filter's z."""
        means = {self.spec.weight: self._z_view(z) * self.weight_mean}
        if self.bias_mean is not None:
            means[self.spec.bias] = z * self.bias_mean if self.spec.kind == "conv" else \
                self.bias_mean.expand(z.shape[0], -1)
        return means

    def weights(self, z: torch.Tensor, eps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """W = z ⊙ μ + σ ε for noise ``eps`` {name: (N, *shape)}."""
        means = self.conditional_means(z)
        w, b = self.spec.weight, self.spec.bias
        weights = {w: means[w] + (0.5 * self.weight_log_var).exp() * eps[w]}
        if b is not None:
            weights[b] = means[b] + (0.5 * self.bias_log_var).exp() * eps[b]
        return weights

    def log_r(self, z: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """log r(z | W) (N,) for z (N, d) and this layer's sampled weights."""
        w = weights[self.spec.weight]
        if self.z_axis == 0:  # conv: one row per filter, its weights then its bias
            rows = w.flatten(2)
            if self.spec.bias is not None:
                rows = torch.cat([rows, weights[self.spec.bias].unsqueeze(-1)], -1)
        else:  # linear: one row per input unit
            rows = w.transpose(1, 2)
        a = torch.tanh(torch.einsum("nrc,r->nc", rows, self.r_c)).mean(-1, keepdim=True)  # (N, 1)
        mean, log_precision = a * self.r_b1, a * self.r_b2
        zr, ladj = self.flow_r(z)
        return gaussian_log_prob(zr, mean, -log_precision) + ladj

    def kl_to_prior(self, z: torch.Tensor, prior_var: float) -> torch.Tensor:
        """KL(q(W | z) ‖ p(W)) (N,), in closed form."""
        means = self.conditional_means(z)
        kl = gaussian_kl(means[self.spec.weight], self.weight_log_var.expand_as(means[self.spec.weight]),
                         prior_var)
        if self.spec.bias is not None:
            b = means[self.spec.bias]
            kl = kl + gaussian_kl(b, self.bias_log_var.expand_as(b), prior_var)
        return kl


class MNF(Method):
    """Multiplicative normalizing flows over every conv and linear layer of any `TargetNet`."""

    def __init__(self, target: TargetNet, config: MNFConfig):
        super().__init__(target)
        self.config = config
        init = own_parameters(target.module)
        self.layers = nn.ModuleList(
            MNFLayer(spec, init[spec.weight], init[spec.bias] if spec.bias else None, config)
            for spec in target.layers)
        self.norms = SharedNorms(target, init)

    def _noise(self, n: int, generator: torch.Generator | None
               ) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
        """Standard normal noise: per layer, z₀'s (N, d) and the weights' {name: (N, *shape)}."""
        device = self.layers[0].z_mean.device
        dtype = self.layers[0].z_mean.dtype

        # One draw for every tensor: network i's noise is the same whatever the number drawn.
        shapes = [(layer.z_dim,) for layer in self.layers] + [
            shape for layer in self.layers
            for shape in (layer.spec.weight_shape, *([(layer.spec.out_units,)] if layer.spec.bias else []))]
        drawn = iter(devices.per_network(n, shapes, lambda s: devices.normal(s, generator, device, dtype)))
        z_eps = [next(drawn) for _ in self.layers]
        w_eps = [{layer.spec.weight: next(drawn),
                  **({layer.spec.bias: next(drawn)} if layer.spec.bias else {})} for layer in self.layers]
        return z_eps, w_eps

    def draw(self, n: int, generator: torch.Generator | None = None
             ) -> tuple[WeightBatch, torch.Tensor]:
        """``n`` networks and each one's KL estimate (n,) at its own sample."""
        z_eps, w_eps = self._noise(n, generator)
        weights: WeightBatch = {}
        kl = torch.zeros((), device=z_eps[0].device, dtype=z_eps[0].dtype)
        for layer, ze, we in zip(self.layers, z_eps, w_eps, strict=True):
            z, log_q = layer.draw_z(ze)
            w = layer.weights(z, we)
            weights.update(w)
            kl = kl + layer.kl_to_prior(z, self.config.prior_var) + log_q - layer.log_r(z, w)
        return {**weights, **self.norms.expand(n)}, kl

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        z_eps, w_eps = self._noise(n, generator)
        weights: WeightBatch = {}
        for layer, ze, we in zip(self.layers, z_eps, w_eps, strict=True):
            weights.update(layer.weights(layer.draw_z(ze)[0], we))
        return {**weights, **self.norms.expand(n)}

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        c = self.config
        if c.dataset_size is None:
            raise ConfigError("method.dataset_size is not set: the KL term is divided by the number "
                              "of training examples (the trainer sets it from the data)")
        weights, kl = self.draw(x.shape[0], generator)
        logits, nll = self.target.cross_entropy(weights, x, y)  # logits (N, M, C)
        kl = kl.mean()
        loss = nll + c.kl_weight * kl / c.dataset_size
        accuracy = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy, "cross_entropy": nll.detach(), "kl": kl.detach()}

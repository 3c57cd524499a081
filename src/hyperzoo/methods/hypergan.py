"""HyperGAN (seed 002): a mixer maps Gaussian noise to one code per target layer, a
discriminator pushes the codes toward the Gaussian prior, and one generator per layer emits
that layer's weights.

    z ~ N(0, I) → mixer Q → codes q_1..q_K → generator_k(q_k) → layer k's weights
    loss = task loss + β·BCE(D(q), real);   loss_discriminator = BCE(D(q), fake) + BCE(D(p), real)

For the first ``pretrain_steps`` steps the mixer is trained alone so that the codes' mean and
covariance match the prior's (the paper pre-trains the encoder this way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo import distributed
from hyperzoo.config import ConfigError, check_bounds, check_choices
from hyperzoo.devices import normal
from hyperzoo.methods.base import LatentMethod
from hyperzoo.methods.mlp import EqualizedLinear
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch

Task = Literal["classification", "regression"]


@dataclass
class HyperGANConfig:
    name: str = "hypergan"
    z_dim: int = 256
    code_size: int = 128
    mixer_hidden: list[int] = field(default_factory=lambda: [512, 512])
    generator_hidden: list[int] = field(default_factory=lambda: [512, 512])
    discriminator_hidden: list[int] = field(default_factory=lambda: [512, 512])
    beta: float = 1.0
    pretrain_steps: int = 100
    # Noise vectors per pre-training step: the codes' covariance needs many more samples
    # than the training batch to be estimated.
    pretrain_batch: int = 512
    task: Task = "classification"
    equalized_output: bool = True
    # Share of the generated weights' initial spread that depends on the code; the rest is a
    # learned bias, one shared He-scale network. At 1.0 every code starts as an independent
    # random network and training sat at chance (digits, with the mixer pre-trained to unit
    # code variance); at 0.3 it learned within 100 steps.
    code_share: float = 0.3
    # Regression: the variance of the training set's targets, measured when training starts
    # (`calibrate`) and recorded. A step's squared error is divided by its own targets'
    # variance, floored at 1% of this: a batch of equal targets (whole-number targets, a small
    # batch) divided it by 0, and the step's 10¹² × gradient stalled Adam for thousands of steps.
    target_variance: float | None = None

    def __post_init__(self) -> None:
        check_choices("method", self)
        if not 0 < self.code_share <= 1:
            raise ValueError(f"method.code_share must be in (0, 1], got {self.code_share}")
        if self.target_variance is not None and not self.target_variance > 0:
            raise ValueError(f"method.target_variance must be positive, got {self.target_variance}")
        # pretrain_batch ≥ 2: the codes' covariance needs two samples.
        check_bounds("method", self, at_least={"z_dim": 1, "code_size": 1, "beta": 0, "pretrain_steps": 0,
                                               "pretrain_batch": 2})


def elu_mlp(sizes: list[int], out: nn.Module | None = None) -> nn.Sequential:
    """Linear + ELU hidden layers; ``out`` replaces the plain output layer if given."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        hidden = nn.Linear(a, b)
        # He initialisation keeps activations at unit scale without batch norm; PyTorch's
        # default shrinks them about √3-fold per layer, so the generated weights started
        # near 1/7 of He scale and the target's ReLUs died in training.
        nn.init.kaiming_normal_(hidden.weight, nonlinearity="relu")
        nn.init.zeros_(hidden.bias)
        layers += [hidden, nn.ELU()]
    layers.append(out if out is not None else nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def moment_mismatch(codes: torch.Tensor) -> torch.Tensor:
    """‖mean‖² + ‖cov − I‖²_F of codes (B, d): zero when they match N(0, I)'s moments."""
    mean = codes.mean(0)
    centred = codes - mean
    cov = centred.t() @ centred / (codes.shape[0] - 1)
    return mean.pow(2).sum() + (cov - torch.eye(codes.shape[1], device=codes.device)).pow(2).sum()


class HyperGAN(LatentMethod):
    """Mixer, per-layer generators and a latent discriminator for any `TargetNet`."""

    # README, "HyperGAN": at 1e-3 the discriminator wins and the digits run collapsed (9.6% at
    # step 400); a user's regression under fit's default 1e-3 ended at a constant predictor.
    LR_NOTE = (3e-4, "its recipes use 3e-4 (MNIST) and 1e-4 (digits); at 1e-3 the discriminator "
                     "won and a digits run collapsed to chance")

    def __init__(self, target: TargetNet, config: HyperGANConfig):
        super().__init__(target)
        self.config = c = config
        k = len(target.layers)
        self.mixer = elu_mlp([c.z_dim, *c.mixer_hidden, k * c.code_size])
        self.generators = nn.ModuleList(
            elu_mlp([c.code_size, *c.generator_hidden, layer.num_weights],
                    out=EqualizedLinear([c.code_size, *c.generator_hidden][-1], layer.num_weights,
                                        math.sqrt(2 / layer.fan_in), bias=True,
                                        input_share=c.code_share)
                    if c.equalized_output else None)
            for layer in target.layers)
        self.discriminator = elu_mlp([c.code_size, *c.discriminator_hidden, 1])

    @property
    def latent_dim(self) -> int:
        return self.config.z_dim

    def calibrate(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None,
                  targets: torch.Tensor | None = None) -> dict[str, Any]:
        """A regression run's ``target_variance``, unless set: of the training set's ``targets``,
        else of the first batch ``y`` (N, M)."""
        c = self.config
        if c.task != "regression":
            return {}
        if y.numel() < 2:
            raise ConfigError("method.task 'regression' weighs the squared error by the variance of "
                              "each step's targets, which needs two of them: set train.noise_batch × "
                              f"train.images_per_noise to at least 2 (got {y.shape[0]} × {y.shape[1]})")
        if c.target_variance is not None:
            return {}
        which, values = ("training set", targets) if targets is not None else ("first training batch", y)
        variance = float(values.detach().double().var())
        if not variance > 0:
            raise ConfigError(f"the {which}'s {values.numel()} regression targets are all equal "
                              f"({float(values.flatten()[0]):g}), so their variance cannot weigh the squared "
                              "error: check the data's targets, or give method.target_variance (their "
                              "variance)")
        return {"target_variance": variance}

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        p = self.config.pretrain_steps
        if steps is not None and steps <= p:
            raise ConfigError(f"train.steps = {steps} ends within method.pretrain_steps = {p} (the mixer's "
                              "pre-training): the generators would never see the task loss; raise "
                              "train.steps or lower method.pretrain_steps")

    @property
    def task(self) -> str:
        return self.config.task

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        disc = list(self.discriminator.parameters())
        ids = {id(p) for p in disc}
        return {"model": [p for p in self.parameters() if id(p) not in ids],
                "discriminator": disc}

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return normal((n, self.config.z_dim), generator, next(self.parameters()).device)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """(N, K, code_size): one code per target layer."""
        return self.mixer(z).reshape(z.shape[0], len(self.target.layers), self.config.code_size)

    def generate(self, z: torch.Tensor) -> WeightBatch:
        return self._weights(self.codes(z))

    def _weights(self, q: torch.Tensor) -> WeightBatch:
        weights: WeightBatch = {}
        for i, (layer, gen) in enumerate(zip(self.target.layers, self.generators, strict=True)):
            weights.update(layer.unflatten(gen(q[:, i])))
        return weights

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        c = self.config
        n = x.shape[0]
        if step < c.pretrain_steps:
            mismatch = moment_mismatch(self.codes(self.noise(c.pretrain_batch, generator))
                                       .reshape(-1, c.code_size))
            zero = torch.zeros((), device=x.device)
            # No discriminator loss to learn from (a detached zero): the trainer skips its step,
            # which Adam would otherwise count, inflating its first real steps. No accuracy or
            # error either: no network ran (a logged 0.0 read as a real one in the curves).
            return {"loss": mismatch, "loss_discriminator": zero, "moment_mismatch": mismatch.detach()}
        q = self.codes(self.noise(n, generator))
        flat_q = q.reshape(-1, c.code_size)
        weights = self._weights(q)
        if c.task == "classification":
            outputs, task = self.target.cross_entropy(weights, x, y)  # outputs (N, M, C)
            metric = {"accuracy": (outputs.argmax(-1) == y).float().mean()}
        else:
            outputs = self.target(weights, x)  # (N, M, 1)
            mse = F.mse_loss(outputs.squeeze(-1), y)
            # Relative to the variance of the step's targets (1 − R²), so that β weighs the same
            # whatever the units of y (seed 002 standardises its regression targets): the whole
            # batch's, under torchrun too (a process's share alone would weigh it otherwise).
            floor = 1e-12 if c.target_variance is None else 0.01 * c.target_variance
            task = mse / distributed.batch_variance(y).clamp_min(floor)
            metric = {"mse": mse.detach()}
        prior = normal(tuple(flat_q.shape), generator, flat_q.device, flat_q.dtype)
        real = torch.ones(flat_q.shape[0], 1, device=x.device)
        fool = F.binary_cross_entropy_with_logits(self.discriminator(flat_q), real)
        # The same codes, detached: seed 002 §3 draws a fresh batch (README, "HyperGAN").
        d_loss = (F.binary_cross_entropy_with_logits(self.discriminator(flat_q.detach()), 0 * real)
                  + F.binary_cross_entropy_with_logits(self.discriminator(prior), real))
        return {"loss": task + c.beta * fool, "loss_discriminator": d_loss, "task_loss": task.detach(),
                "generator_adversarial": fool.detach(), "discriminator": d_loss.detach(), **metric}


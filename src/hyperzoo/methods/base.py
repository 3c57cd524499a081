"""The protocol every method follows, so the trainer and evaluation never branch on a method."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


def param_key(name: str) -> str:
    """A parameter name as an ``nn.ParameterDict`` key (keys cannot contain dots)."""
    return name.replace(".", "__")


def own_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s parameters as they are, copied to the CPU: where a method of one network
    (MC dropout, MNF, BHN, single) starts, as a user's own training of it would, with whatever
    initialisation the module's constructor chose (a zero-initialised head, a custom scale).
    The zoo's targets are built seeded on the CPU, so a run starts alike on every device kind.
    In float32, like the data (a float64 module's weights met float32 inputs). The caller moves
    the method."""
    return {name: p.detach().to("cpu", torch.float32, copy=True) for name, p in module.named_parameters()}


def fresh_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of a copy of ``module``, re-initialised by ``reset_parameters``: every
    submodule's, children before their parents, so a container that defines its own (a user's
    model initialising its layers its way) has the last word. For methods that need several
    independent networks (the ensemble); an initialisation written only in a constructor is not
    repeated. ``module`` is untouched. On the CPU, drawn from torch's global generator, whatever
    ``module``'s device: a run then starts from the same networks on every device kind (a CUDA
    module's ``reset_parameters`` would draw from the GPU's generator). The caller moves the
    method."""
    module = copy.deepcopy(module).to("cpu")
    # Leaves in the order they were registered (the draws of earlier versions), then containers,
    # deepest first.
    mods = list(module.modules())
    leaves = [m for m in mods if next(m.children(), None) is None]
    for m in leaves + [m for m in reversed(mods) if next(m.children(), None) is not None]:
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return {name: p.detach().float() for name, p in module.named_parameters()}


class SharedNorms(nn.Module):
    """The scales and shifts of a target's normalisation layers as point estimates that every
    network shares, starting where the module initialises them: for methods whose distribution
    covers the conv and linear weights only (MNF, the Bayesian hypernetwork)."""

    def __init__(self, target: TargetNet, init: dict[str, torch.Tensor]):
        super().__init__()
        self.names = [k for s in target.layers for k in (s.norm_scale, s.norm_shift) if k is not None]
        self.params = nn.ParameterDict({param_key(k): nn.Parameter(init[k].clone()) for k in self.names})

    def expand(self, n: int) -> WeightBatch:
        """The same values for ``n`` networks: ``{name: (n, C)}``."""
        return {k: self.params[param_key(k)].expand(n, -1) for k in self.names}


class Method(nn.Module, ABC):
    """A trainable source of networks for one `TargetNet`.

    ``sample`` returns a weight batch ``(N, *shape)``; ``training_loss`` returns a dict with
    the scalar ``"loss"`` to minimise plus detached scalars to log. The target module itself
    is not a submodule: a method's parameters are its own.
    """

    # False: the objective needs no data set (``data.dataset: none``); the trainer then passes
    # x and y of shape (N, 0), no examples for each of N networks.
    needs_data: bool = True
    # The method's config dataclass (its ``method:`` section), set by each method's __init__:
    # config.yaml records every field, and the trainer and `check_settings` read it.
    config: Any

    def __init__(self, target: TargetNet):
        super().__init__()
        self.target = target

    def train(self, mode: bool = True) -> Method:
        """Set the method's mode and the target module's: the module is not a submodule, and
        its dropout layers (if any) must be off when networks are evaluated."""
        super().train(mode)
        self.target.module.train(mode)
        return self

    @property
    def gauge_setting(self) -> str | None:
        """The setting (for messages) that makes this method rely on the scale gauge, whose
        validity `build_method` checks on the target; None: no reliance. (MC dropout checks its
        masks itself: `check_masks_drop_units`.)"""
        return None

    @classmethod
    def networks_per_step(cls, config: Any) -> int | None:
        """The ``train.noise_batch`` this method needs with ``config`` (its config dataclass), which an
        unset ``train.noise_batch`` takes; None: any count (`check_training` may still bound it)."""
        return None

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        """Raise `ConfigError` if training with ``noise_batch`` networks per step (for ``steps``
        steps, where given) cannot work; called before a run folder is created. It reads the
        method's ``config`` alone (`check_settings` relies on it; a test holds every method to it)."""

    @classmethod
    def check_settings(cls, config: Any, noise_batch: int, steps: int | None = None) -> None:
        """`check_training` of a method with ``config`` (its config dataclass), without building
        it: no target, no parameters (`hyperzoo config` says what train would refuse)."""
        bare = cls.__new__(cls)
        object.__setattr__(bare, "config", config)  # past nn.Module's __setattr__, which needs __init__
        bare.check_training(noise_batch, steps)

    # The largest learning rate this method's recipes were seen to train at, and what happened
    # above it, for a note when a new run asks for more (None: no such limit seen).
    LR_NOTE: tuple[float, str] | None = None

    def calibrate(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None,
                  targets: torch.Tensor | None = None) -> dict[str, Any]:
        """Settings left to be measured (``"auto"``), resolved on one training batch ``x``
        (N, M, ...), ``y`` (N, M) (and the whole training set's ``targets``, where there is
        one) before the first step, without changing the method's state but for its
        ``config``, which takes them; returns them (key → value) for the run's config.yaml
        (under torchrun the trainer sets rank 0's float values into ``config`` on every rank).
        Default: nothing to resolve."""
        return {}

    @property
    def task(self) -> str:
        """What the generated networks do: ``"classification"`` (cross-entropy on labels) or
        ``"regression"`` (squared error on real targets); the data set must agree."""
        return "classification"

    @property
    def max_networks(self) -> int | None:
        """How many distinct networks the method can give (None: unlimited)."""
        return None

    # True where the networks are collected over the whole run (snapshots): one validation
    # step's model (train.keep_best) would hold that step's partial set, not the method's.
    collects_over_run = False

    def capped(self, n: int) -> int:
        """``n`` networks, or all of a fixed set that holds fewer (evaluate, ood, polyak and export
        take the whole set rather than refuse)."""
        return min(n, self.max_networks or n)

    @property
    def latent_dim(self) -> int | None:
        """Dimension of the manifold of generated weights (dim z), for entropy estimates;
        None means the full weight dimension."""
        return None

    @property
    def probe_size(self) -> int:
        """How many shared inputs a term over all networks' outputs needs (0: none). The trainer
        then passes ``training_loss`` a ``probe``: the first ``probe_size`` inputs of network 0
        of the whole batch. Under torchrun a process holds only its share of each network's
        inputs, so a probe cut from ``x`` would differ between processes."""
        return 0

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        """Draw ``n`` networks."""

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimizer. Group ``"model"`` minimises ``"loss"``; any other group
        ``g`` (e.g. a discriminator) minimises ``"loss_g"`` with its own optimizer
        (``train.optimizer``)."""
        return {"model": list(self.parameters())}

    @abstractmethod
    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss on inputs ``x`` (N, M, ...) and labels ``y`` (N, M): M examples per network (and
        a keyword ``probe`` where `probe_size` asks for one); ``step``: the number of updates
        applied before this one (0 at the first)."""


class LatentMethod(Method):
    """A method whose networks are G(z) for noise z: adds ``noise`` and ``generate``."""

    @abstractmethod
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent vectors ``(n, latent_dim)``."""

    @abstractmethod
    def generate(self, z: torch.Tensor) -> WeightBatch:
        """Weights of ``len(z)`` networks."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        return self.generate(self.noise(n, generator))

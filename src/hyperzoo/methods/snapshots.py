"""Baseline: the SGD iterates of one run as an ensemble (constant-learning-rate SGD as a
sampler, Mandt et al. 2017; seed 003 Table 1 column (b); issue 14's "SGD checkpoints of one
run").

One network trains as in `SingleNetwork`. The weights after t updates, for
t = ``burn_in``, ``burn_in`` + ``every``, ``burn_in`` + 2·``every``, … (t < train.steps), are
copied into a ring of the ``size`` latest snapshots, held as persistent buffers: the checkpoint
stores them and ``--resume`` continues exactly. The copy is made when the trainer asks for the
loss of step t (0-based), whose minibatch sees exactly those weights; the final weights (after
all train.steps updates) are therefore never a snapshot. E.g. train.steps 2000, ``burn_in``
1000, ``every`` 100, ``size`` 10: the weights after 1000, 1100, …, 1900 updates.

``sample(n)`` gives the ``n`` latest snapshots, oldest first (``max_networks`` = snapshots
taken so far, at most ``size``); before the first snapshot it gives the current weights as
the one network there is. The noise generator is not used: the set is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hyperzoo.config import ConfigError, check_bounds
from hyperzoo.methods.base import param_key
from hyperzoo.methods.single import SingleNetwork
from hyperzoo.notes import note
from hyperzoo.targets import TargetNet
from hyperzoo.weights import WeightBatch


@dataclass
class SnapshotsConfig:
    name: str = "snapshots"
    size: int = 10
    burn_in: int = 1000
    every: int = 100
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_bounds("method", self, at_least={"size": 1, "burn_in": 0, "every": 1, "weight_decay": 0})


class SnapshotEnsemble(SingleNetwork):
    """One network and the ring of its latest ``size`` snapshots."""

    method_name = "snapshots"
    collects_over_run = True

    def __init__(self, target: TargetNet, config: SnapshotsConfig):
        super().__init__(target, config.weight_decay)
        self.config = config
        # Buffers, not parameters: saved and restored with the model, never optimized.
        self.snapshots = nn.Module()
        for k, p in self.current().items():
            self.snapshots.register_buffer(param_key(k), torch.zeros(config.size, *p.shape, dtype=p.dtype))
        self.register_buffer("taken", torch.zeros((), dtype=torch.long))

    def check_training(self, noise_batch: int, steps: int | None = None) -> None:
        super().check_training(noise_batch, steps)
        if steps is None:
            return
        b, every, size = self.config.burn_in, self.config.every, self.config.size
        if steps <= b:
            # The defaults did this (burn_in 1000 of train.steps 1000): an ensemble of the one
            # final network, without a word.
            raise ConfigError(f"method.burn_in = {b} is not below train.steps = {steps}: no snapshot would "
                              "be taken; raise train.steps or lower method.burn_in")
        taken = (steps - 1 - b) // every + 1
        if taken < size:
            note(f"train.steps = {steps} leaves room for {taken} of method.size = {size} snapshots "
                 f"(one every {every} steps after {b})")

    def snapshot_index(self, step: int) -> int | None:
        """k if the weights after ``step`` updates are snapshot k (0, 1, …) of the schedule."""
        t = step - self.config.burn_in
        return t // self.config.every if t >= 0 and t % self.config.every == 0 else None

    @property
    def max_networks(self) -> int:
        return max(1, min(int(self.taken), self.config.size))

    @torch.no_grad()
    def record(self, step: int) -> None:
        """Copy the current weights into the ring if ``step`` is on the schedule."""
        k = self.snapshot_index(step)
        if k is None:
            return
        for key, p in self.current().items():
            self.snapshots.get_buffer(param_key(key))[k % self.config.size].copy_(p)
        self.taken.fill_(max(int(self.taken), k + 1))

    def sample(self, n: int, generator: torch.Generator | None = None) -> WeightBatch:
        """The ``n`` latest snapshots, oldest first: ``(n, *shape)``."""
        taken, size = int(self.taken), self.config.size
        if taken == 0:
            if n != 1:
                raise ValueError(f"no snapshot taken yet (the first is at step {self.config.burn_in}); "
                                 f"only the current network is available, not {n}")
            return {k: w[None] for k, w in self.current().items()}
        if n > min(taken, size):
            raise ValueError(f"{min(taken, size)} snapshots are held, not {n}; train longer or "
                             f"with a larger method.size")
        slots = torch.tensor([k % size for k in range(taken - n, taken)], device=self.taken.device)
        return {k: self.snapshots.get_buffer(param_key(k))[slots] for k in self.target.param_shapes}

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, step: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        # The weights this step's minibatch sees are those after ``step`` updates.
        self.record(step)
        out = super().training_loss(x, y, step, generator)
        out["snapshots"] = self.taken.clamp(max=self.config.size).float()
        return out

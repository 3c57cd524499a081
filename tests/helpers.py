"""Tiny configs for fast end-to-end tests (digits data, a small hypernetwork)."""

import importlib.util
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from hyperzoo.config import Config, load_config

TINY = [
    "method.z_dim=8", "method.code_size=4", "method.extractor_hidden=[16]",
    "method.generator_hidden=[16]", "train.noise_batch=4", "train.images_per_noise=8",
    "train.val_every=3", "train.val_networks=3", "train.checkpoint_every=2", "data.val_limit=40",
]


def tiny_config(*overrides: str) -> Config:
    return load_config(None, [*TINY, *overrides])


class DropoutNet(nn.Sequential):
    """A digits target with dropout, named by import path in tests (``tests.helpers:DropoutNet``)."""

    def __init__(self, hidden: int = 16):
        super().__init__(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(hidden, 10))


class CenteredNet(nn.Sequential):
    """A digits target with a non-persistent buffer (a fixed input offset): part of the
    module's function but not of its state dict."""

    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        self.register_buffer("offset", torch.full((1, 64), 0.5), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1) - self.offset)


class NormNet(nn.Sequential):
    """A digits target with a batch norm and a layer norm after its linear layers."""

    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Linear(16, 12), nn.LayerNorm(12), nn.ReLU(), nn.Linear(12, 10))


class TanhNet(nn.Sequential):
    """A digits target the scale gauge does not fit (tanh is not positively homogeneous)."""

    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))


# Tiny settings of every method (the Deutsch ones are TINY's own), for tests that run them all.
TINY_METHODS = {
    "deutsch": [],
    "deutsch_relaxed": ["method.diversity=weights_relaxed", "method.ensemble_loss=0.5"],
    # A probe of all 8 images: under 2 processes each holds 4 of them.
    "deutsch_outputs": ["method.diversity=outputs", "method.probe_size=8"],
    "hypergan": ["method.name=hypergan", "method.z_dim=8", "method.code_size=4", "method.mixer_hidden=[16]",
                 "method.generator_hidden=[16]", "method.discriminator_hidden=[16]",
                 "method.pretrain_steps=0"],
    "mc_dropout": ["method.name=mc_dropout"],
    "ensemble": ["method.name=ensemble", "method.size=4"],
    "mnf": ["method.name=mnf"],
    "bhn": ["method.name=bhn"],
    "static": ["method.name=static"],
    "gaussian_noise": ["method.name=gaussian_noise", "train.noise_batch=1"],
    "snapshots": ["method.name=snapshots", "method.size=2", "method.burn_in=0", "method.every=1",
                  "train.noise_batch=1"],
}


def _tiny(name: str) -> list[str]:
    keep = TINY if name.startswith("deutsch") else [s for s in TINY if not s.startswith("method.")]
    return [*keep, *TINY_METHODS[name]]


# Settings whose loss takes more than a process's share of the batch, and other settings the
# torchrun tests run (tests/test_distributed.py).
SPLIT_CASES = {
    # The squared error is weighed by the variance of the whole batch's targets.
    "hypergan_regression": ["target.name=regression_mlp", "target.kwargs={hidden: 8}", "data.dataset=cubic",
                            "train.noise_batch=2", "train.images_per_noise=2", *TINY_METHODS["hypergan"],
                            "method.task=regression"],
    # The loop backend, where each network's backward is taken with its forward
    # (TargetNet.cross_entropy): the digits target alone runs on vmap under "auto".
    **{f"{name}_loop": [*_tiny(name), "target.backend=loop"]
       for name in ("deutsch", "hypergan", "mc_dropout")},
}


def method_overrides(name: str) -> list[str]:
    """TINY with method ``name``'s tiny settings in place of the Deutsch ones."""
    if name in SPLIT_CASES:
        return SPLIT_CASES[name]
    return _tiny(name)


def load_experiment(name: str) -> ModuleType:
    """The script experiments/NAME.py as a module (ours, from the repository: not user files)."""
    path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record_output_dtypes(module: nn.Module, names: set[str]) -> dict[str, torch.dtype]:
    """Forward hooks on ``module``'s submodules ``names``: the returned dict holds each one's
    output dtype from its latest call."""
    seen: dict[str, torch.dtype] = {}
    for name, mod in module.named_modules():
        if name in names:
            mod.register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.dtype}))
    return seen


class SilentNet(nn.Sequential):
    """A digits target whose ReLU ('3') is never active (its inputs are -|x| <= 0, zero only at 0)."""

    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(64, 16), NegativeAbs(), nn.ReLU(), nn.Linear(16, 10))


class NegativeAbs(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x.abs()

"""Targets by name: the built-in zoo or any importable ``package.module:Class``."""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from hyperzoo.errors import ConfigError
from hyperzoo.targets.zoo import (
    VGGCIFAR,
    DeutschMNIST,
    DigitsNet,
    HyperGANCIFAR,
    HyperGANMNIST,
    LeNetCIFAR,
    StaticMNIST,
)

BUILTIN: dict[str, type[nn.Module]] = {
    "deutsch_mnist": DeutschMNIST,
    "hypergan_mnist": HyperGANMNIST,
    "hypergan_cifar": HyperGANCIFAR,
    "lenet_cifar": LeNetCIFAR,
    "digits_net": DigitsNet,
    "static_mnist": StaticMNIST,
    "vgg_cifar": VGGCIFAR,
}


def build_target(name: str, kwargs: dict[str, Any] | None = None, trust_code: bool = True) -> nn.Module:
    """Instantiate a built-in target or ``package.module:Class`` with ``kwargs``.

    Importing a class runs its module's code: ``trust_code=False`` (a config read from a run
    folder, i.e. someone else's data) refuses import paths."""
    kwargs = kwargs or {}
    if name in BUILTIN:
        try:
            return BUILTIN[name](**kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"target {name!r} with target.kwargs {kwargs!r}: {e}") from e
    if ":" not in name:
        raise ConfigError(f"unknown target {name!r}; expected one of {', '.join(BUILTIN)} "
                          "or an import path 'package.module:Class'")
    if not trust_code:
        raise ConfigError(f"target {name!r} is an import path read from a run folder; importing it "
                          "runs that code: pass --trust-code (trust_code=True) if you trust the folder")
    mod_name, _, attr = name.partition(":")
    try:
        cls = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"target {name!r} cannot be imported: {e}") from e
    module = cls(**kwargs)
    if not isinstance(module, nn.Module):
        raise ConfigError(f"target {name!r} built a {type(module).__name__}, not an nn.Module")
    return module

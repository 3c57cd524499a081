"""Targets by name: the built-in zoo or any importable ``package.module:Class``."""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from hyperzoo.targets.zoo import (
    VGGCIFAR,
    CIFARResNet,
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
    "resnet_cifar": CIFARResNet,
}


def build_target(name: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Instantiate a built-in target or ``package.module:Class`` with ``kwargs``."""
    kwargs = kwargs or {}
    if name in BUILTIN:
        return BUILTIN[name](**kwargs)
    if ":" not in name:
        raise ValueError(f"unknown target {name!r}; expected one of {', '.join(BUILTIN)} "
                         "or an import path 'package.module:Class'")
    mod_name, _, attr = name.partition(":")
    try:
        cls = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"target {name!r} cannot be imported: {e}") from e
    module = cls(**kwargs)
    if not isinstance(module, nn.Module):
        raise ValueError(f"target {name!r} built a {type(module).__name__}, not an nn.Module")
    return module

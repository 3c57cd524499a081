"""Methods by name. A new method is one file with a config dataclass and a `Method`."""

from __future__ import annotations

from typing import Any

from hyperzoo.config import ConfigError, from_dict
from hyperzoo.methods.base import LatentMethod, Method
from hyperzoo.methods.deutsch import DeutschConfig, DeutschHypernetwork
from hyperzoo.methods.ensemble import EnsembleConfig, IndependentEnsemble
from hyperzoo.methods.hypergan import HyperGAN, HyperGANConfig
from hyperzoo.methods.mc_dropout import MCDropout, MCDropoutConfig
from hyperzoo.methods.static import StaticHyperConfig, StaticHypernetwork
from hyperzoo.targets import TargetNet

METHODS: dict[str, tuple[type, type[Method]]] = {
    "deutsch": (DeutschConfig, DeutschHypernetwork),
    "ensemble": (EnsembleConfig, IndependentEnsemble),
    "hypergan": (HyperGANConfig, HyperGAN),
    "mc_dropout": (MCDropoutConfig, MCDropout),
    "static": (StaticHyperConfig, StaticHypernetwork),
}


def build_method(target: TargetNet, settings: dict[str, Any]) -> Method:
    """Build the method named by ``settings['name']`` from its validated config."""
    name = settings.get("name", "deutsch")
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    config_cls, method_cls = METHODS[name]
    try:
        return method_cls(target, from_dict(config_cls, settings, prefix="method."))
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from e


__all__ = ["METHODS", "LatentMethod", "Method", "DeutschConfig", "DeutschHypernetwork", "EnsembleConfig",
           "IndependentEnsemble", "HyperGAN", "HyperGANConfig", "MCDropout", "MCDropoutConfig",
           "StaticHyperConfig", "StaticHypernetwork", "build_method"]

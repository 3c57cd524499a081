"""Methods by name. A new method is one file with a config dataclass and a `Method`."""

from __future__ import annotations

import dataclasses
from typing import Any

from hyperzoo.config import ConfigError, from_dict
from hyperzoo.methods.base import LatentMethod, Method
from hyperzoo.methods.deutsch import DeutschConfig, DeutschHypernetwork
from hyperzoo.methods.ensemble import EnsembleConfig, IndependentEnsemble
from hyperzoo.methods.hypergan import HyperGAN, HyperGANConfig
from hyperzoo.methods.mc_dropout import MCDropout, MCDropoutConfig
from hyperzoo.methods.static import StaticHyperConfig, StaticHypernetwork
from hyperzoo.symmetry import check_gauge
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
        method = method_cls(target, from_dict(config_cls, settings, prefix="method."))
    except ConfigError:
        raise
    except ValueError as e:
        # The methods' config classes and constructors check their settings with ValueError.
        raise ConfigError(str(e)) from e
    if method.gauge_setting is not None:
        check_gauge(target, method.gauge_setting)
    return method


def resolve_method_config(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with every default of its method's config class filled in (validated)."""
    name = settings.get("name", "deutsch")
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    try:
        return dataclasses.asdict(from_dict(METHODS[name][0], {"name": name, **settings},
                                            prefix="method."))
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from e


__all__ = ["METHODS", "LatentMethod", "Method", "DeutschConfig", "DeutschHypernetwork", "EnsembleConfig",
           "IndependentEnsemble", "HyperGAN", "HyperGANConfig", "MCDropout", "MCDropoutConfig",
           "StaticHyperConfig", "StaticHypernetwork", "build_method",
           "resolve_method_config"]

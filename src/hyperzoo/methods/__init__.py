"""Methods by name. A new method is one file with a config dataclass and a `Method`, registered
in `METHODS` below, with a help line per config key in `hyperzoo.config_help.METHOD_HELP`
(a test checks it) and tiny settings in `tests.helpers.TINY_METHODS` (the suite then trains,
evaluates, resumes and runs under torchrun every method named there; a test checks they name
every method): docs/extending.md."""

from __future__ import annotations

import dataclasses
from typing import Any

from hyperzoo.config import DEFAULT_METHOD, DEFAULT_NOISE_BATCH, Config, ConfigError, from_dict
from hyperzoo.methods.base import LatentMethod, Method
from hyperzoo.methods.bhn import BayesianHypernetwork, BHNConfig
from hyperzoo.methods.deutsch import DeutschConfig, DeutschHypernetwork
from hyperzoo.methods.ensemble import EnsembleConfig, IndependentEnsemble
from hyperzoo.methods.gaussian_noise import GaussianNoise, GaussianNoiseConfig
from hyperzoo.methods.hypergan import HyperGAN, HyperGANConfig
from hyperzoo.methods.mc_dropout import MCDropout, MCDropoutConfig
from hyperzoo.methods.mnf import MNF, MNFConfig
from hyperzoo.methods.snapshots import SnapshotEnsemble, SnapshotsConfig
from hyperzoo.methods.static import StaticHyperConfig, StaticHypernetwork
from hyperzoo.methods.toy_mixture import ToyMixture, ToyMixtureConfig
from hyperzoo.symmetry import check_gauge
from hyperzoo.targets import TargetNet

METHODS: dict[str, tuple[type, type[Method]]] = {
    "bhn": (BHNConfig, BayesianHypernetwork),
    "deutsch": (DeutschConfig, DeutschHypernetwork),
    "ensemble": (EnsembleConfig, IndependentEnsemble),
    "gaussian_noise": (GaussianNoiseConfig, GaussianNoise),
    "hypergan": (HyperGANConfig, HyperGAN),
    "mc_dropout": (MCDropoutConfig, MCDropout),
    "mnf": (MNFConfig, MNF),
    "snapshots": (SnapshotsConfig, SnapshotEnsemble),
    "static": (StaticHyperConfig, StaticHypernetwork),
    "toy_mixture": (ToyMixtureConfig, ToyMixture),
}


def _check_auto(name: str, settings: dict[str, Any]) -> None:
    """``lam: auto`` (a λ measured at the start of training) is the Deutsch method's alone."""
    if settings.get("lam") == "auto" and name != "deutsch":
        raise ConfigError(f"method.lam 'auto' is for method 'deutsch' only; method {name!r} has no λ")


def build_method(target: TargetNet, settings: dict[str, Any], dataset_size: int | None = None) -> Method:
    """Build the method named by ``settings['name']`` from its validated config.

    A method whose config has a ``dataset_size`` field (a variational bound divides its KL term
    by the number of training examples) gets ``dataset_size`` there unless the settings give one.
    """
    name = settings.get("name", DEFAULT_METHOD)
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    _check_auto(name, settings)
    config_cls, method_cls = METHODS[name]
    takes_size = "dataset_size" in {f.name for f in dataclasses.fields(config_cls)}
    if takes_size and settings.get("dataset_size") is None:
        settings = {**settings, "dataset_size": dataset_size}
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
    name = settings.get("name", DEFAULT_METHOD)
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    _check_auto(name, settings)
    try:
        return dataclasses.asdict(from_dict(METHODS[name][0], {"name": name, **settings},
                                            prefix="method."))
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from e


def resolve_noise_batch(config: Config) -> int:
    """``config.train.noise_batch``, or where it is unset the method's own count
    (`Method.networks_per_step`: 1 for a single network, an ensemble's size), else
    `DEFAULT_NOISE_BATCH`."""
    if config.train.noise_batch is not None:
        return config.train.noise_batch
    settings = resolve_method_config(config.method)
    config_cls, method_cls = METHODS[settings["name"]]
    own = method_cls.networks_per_step(from_dict(config_cls, settings, prefix="method."))
    return DEFAULT_NOISE_BATCH if own is None else own


__all__ = ["METHODS", "LatentMethod", "Method", "BayesianHypernetwork", "BHNConfig", "DeutschConfig",
           "DeutschHypernetwork", "EnsembleConfig", "IndependentEnsemble", "HyperGAN", "HyperGANConfig",
           "MCDropout", "MCDropoutConfig", "MNF", "MNFConfig", "StaticHyperConfig", "StaticHypernetwork",
           "build_method", "resolve_method_config", "resolve_noise_batch",
           "GaussianNoise", "GaussianNoiseConfig", "SnapshotEnsemble", "SnapshotsConfig", "ToyMixture",
           "ToyMixtureConfig"]

"""Run configuration: nested dataclasses read from YAML, with ``--set key=value`` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad key or value in a configuration (one line, naming it)."""


@dataclass
class TargetConfig:
    name: str = "digits_net"
    kwargs: dict[str, Any] = field(default_factory=dict)
    backend: str = "auto"
    # (C, H, W) of one input; None reads it from the data set. The Python API records it, so a
    # run trained on in-memory data reopens without that data.
    input_shape: list[int] | None = None


@dataclass
class DataConfig:
    # A built-in name, or a path to your own: an IDX folder, a CIFAR-format folder or an .npz.
    dataset: str = "digits"
    data_dir: str | None = None
    val_split: str = "val"
    val_limit: int | None = None
    # Share of the training examples held out for validation; None keeps the built-in splits
    # (MNIST 1/12, CIFAR-10 1/10) and holds out 1/10 of your own data set.
    val_fraction: float | None = None
    # Training-time augmentation: "none", or "crop" (zero-pad by ``pad`` pixels per side, then
    # a random crop of the original size; seed 004 uses pad 1 on MNIST, 2 on CIFAR-10).
    augment: str = "none"
    pad: int = 0
    # Batch-norm targets: running statistics of sampled networks come from one pass over the
    # first ``bn_examples`` training images (None: all), in batches of ``bn_batch``.
    bn_examples: int | None = None
    bn_batch: int = 256

    def __post_init__(self) -> None:
        if self.augment not in ("none", "crop"):
            raise ConfigError(f"data.augment {self.augment!r} is not one of 'none', 'crop'")
        if self.pad < 0 or (self.augment == "crop" and self.pad == 0):
            raise ConfigError(f"data.pad must be positive with data.augment 'crop', got {self.pad}")
        if (self.bn_examples is not None and self.bn_examples < 2) or self.bn_batch < 2:
            raise ConfigError(f"data.bn_examples ({self.bn_examples}) and data.bn_batch "
                              f"({self.bn_batch}) must be at least 2 (batch statistics need two images)")


@dataclass
class TrainConfig:
    steps: int = 1000
    noise_batch: int = 32
    images_per_noise: int = 32
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    lr_warmup: int = 0
    lr_min_factor: float = 0.05
    lr_decay_every: int = 0
    lr_decay: float = 1.0
    seed: int = 0
    val_every: int = 100
    val_networks: int = 16
    checkpoint_every: int = 200
    threads: int | None = None
    # Where the method and the weight batches live: auto (CUDA when available, else CPU), cpu,
    # cuda or cuda:N. Data stay on the CPU and move a batch at a time; noise is drawn on the CPU.
    device: str = "auto"
    # Logged scalars are read from the device every log_every steps (one host sync, not one
    # per step); metrics.jsonl still holds one row per step.
    log_every: int = 10
    # bf16: the training loss under autocast; compile: torch.compile of the training loss.
    # Both off by default (no benchmark on a GPU has shown a gain yet).
    precision: str = "fp32"
    compile: bool = False
    # Early stopping: also keep the model of the best validation accuracy (best.safetensors);
    # evaluate, sample and report then use it.
    keep_best: bool = False


@dataclass
class Config:
    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # Method settings are validated by the method's own config class (see hyperzoo.methods).
    # The defaults are the embedded digits demo; λ = 3·10³ suits its 1,197 training images.
    method: dict[str, Any] = field(default_factory=lambda: {"name": "deutsch", "lam": 3000.0})
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(path, value, arg)
            except ConfigError:
                pass
        raise ConfigError(f"config key {path!r} = {value!r} has the wrong type; expected {annotation}")
    base = origin or annotation
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is float and isinstance(value, str):
        # YAML 1.1 reads "1e4" (no dot) as a string; accept it as the number it means.
        try:
            return float(value)
        except ValueError:
            pass
    if base is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if base in (list, tuple) and isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(base, type) and isinstance(value, base) and not (
            base is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key {path!r} = {value!r} has the wrong type; expected "
                      f"{getattr(base, '__name__', base)}")


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<root>'!r} must be a mapping, "
                          f"got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}; expected one of "
                          f"{', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_type(prefix + key, value, hint)
    return cls(**kwargs)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML) to a nested dict in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r} is not of the form key=value")
    key, _, raw = assignment.partition("=")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is not a section")
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        # YAML 1.1 reads "1e5" (no dot) as a string; a user writing it means the number.
        try:
            value = float(value)
        except ValueError:
            pass
    node[parts[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
                ) -> Config:
    """Defaults ← YAML file ← ``--set`` overrides. No file gives the embedded digits demo."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    for assignment in overrides:
        apply_override(data, assignment)
    cfg = from_dict(Config, {k: v for k, v in data.items() if k != "method"})
    if "method" in data:
        if not isinstance(data["method"], dict):
            raise ConfigError(f"config section 'method' must be a mapping, got {data['method']!r}")
        cfg.method = {"name": "deutsch", **data["method"]}
    return cfg

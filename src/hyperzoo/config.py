"""Run configuration: nested dataclasses read from YAML, with ``--set key=value`` overrides."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hyperzoo.data.augment import Augmentation
from hyperzoo.data.base import ValPick
from hyperzoo.errors import ConfigError
from hyperzoo.notes import note
from hyperzoo.optimizers import OptimizerKind
from hyperzoo.schedules import LrSchedule
from hyperzoo.targets.target_net import Backend

Precision = typing.Literal["fp32", "bf16"]
ValSplit = typing.Literal["val", "test"]

MAX_THREADS = 4096
# Networks per step of a method that takes any number, where train.noise_batch is unset.
DEFAULT_NOISE_BATCH = 32
MAX_SEED = 2**62
FLOAT32_MAX = 3.4028234663852886e38


def _at_least(key: str, value: float | None, low: float, allow_none: bool = False) -> None:
    """Range check at load time, naming the key (a ZeroDivisionError mid-run names nothing)."""
    if value is None and allow_none:
        return
    if value is None or not value >= low:  # `not >=`: NaN fails too
        raise ConfigError(f"config key {key!r} = {value!r} must be at least {low:g}"
                          + (" (or unset)" if allow_none else ""))


def check_choices(section: str, config: Any) -> None:
    """Refuse a field typed as a ``Literal`` whose value is not one of its choices, naming the key
    (``section.field``): what `from_dict` checks, for a config dataclass built in Python. The
    config dataclasses call it from ``__post_init__``."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        if _choices(hints[f.name]):  # a str subclass becomes its plain string, as from_dict keeps it
            value = _check_type(f"{section}.{f.name}", getattr(config, f.name), hints[f.name])
            setattr(config, f.name, value)


def _choices(annotation: Any) -> tuple[Any, ...]:
    """The values a ``Literal`` (or ``Literal | None``) annotation allows, else ()."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(c for arg in typing.get_args(annotation) for c in _choices(arg))
    return ()


def check_bounds(section: str, config: Any, at_least: dict[str, float] | None = None,
                 above: dict[str, float] | None = None) -> None:
    """Range checks of a config dataclass's fields, naming each key (``section.field``); a field
    left unset (None) passes. The method configs call it from ``__post_init__``."""
    for name, low in (at_least or {}).items():
        _at_least(f"{section}.{name}", getattr(config, name), low, allow_none=True)
    for name, low in (above or {}).items():
        value = getattr(config, name)
        if value is not None and not value > low:
            raise ConfigError(f"config key {section + '.' + name!r} = {value!r} must be above {low:g}")


@dataclass
class TargetConfig:
    name: str = "digits_net"
    kwargs: dict[str, Any] = field(default_factory=dict)
    backend: Backend = "auto"
    # (C, H, W) of one input; None reads it from the data set. The Python API records it, so a
    # run trained on in-memory data reopens without that data.
    input_shape: list[int] | None = None
    # Set by train: the target module's class, so a module given to reopen or resume the run
    # (hyperzoo.load(run_dir, module=...)) must be one (None in folders from before it).
    module_class: str | None = None

    def __post_init__(self) -> None:
        check_choices("target", self)


@dataclass
class DataConfig:
    # A built-in name, or a path to your own: an IDX folder, a CIFAR-format folder or an .npz.
    dataset: str = "digits"
    data_dir: str | None = None
    # The split validated on during training ("train" was accepted: validation and the kept
    # best model then scored training examples).
    val_split: ValSplit = "val"
    val_limit: int | None = None
    # Share of the training examples held out for validation; None keeps the built-in splits
    # (MNIST 1/12, CIFAR-10 1/10) and holds out 1/10 of your own data set.
    val_fraction: float | None = None
    # Which of your own data set's examples are held out (hyperzoo.data.base.VAL_PICKS): a fixed
    # random subset, or the last ones (class-sorted data then never trains on its last classes).
    # Built-in sets keep their own splits. A run folder from before it had its last ones.
    val_pick: ValPick = "random"
    # Set by train for a data set of the user's (a file: its SHA-256; an IDX or CIFAR folder: that
    # of its data files' names and SHA-256s), so that evaluate, report and resume refuse data
    # changed since, and a run folder copied elsewhere reads its own copy of fit's data file, not
    # the original folder's.
    sha256: str | None = None
    # Training-time augmentation: "none", "crop" (zero-pad by ``pad`` pixels per side, then a
    # random crop of the original size; seed 004 uses pad 1 on MNIST, 2 on CIFAR-10), or
    # "crop_flip" (then a left-right mirror of half the images; seed 002's CIFAR, pad 4).
    augment: Augmentation = "none"
    pad: int = 0
    # Batch-norm targets: running statistics of sampled networks come from one pass over the
    # ``bn_examples`` training images (None: all; a fixed random subset), in batches of
    # ``bn_batch`` drawn in a fixed random order (`estimate_bn_statistics`).
    bn_examples: int | None = None
    bn_batch: int = 256

    def __post_init__(self) -> None:
        check_choices("data", self)
        if self.pad < 0 or (self.augment != "none" and self.pad == 0):
            raise ConfigError(f"data.pad must be positive with data.augment {self.augment!r}, "
                              f"got {self.pad}")
        if (self.bn_examples is not None and self.bn_examples < 2) or self.bn_batch < 2:
            raise ConfigError(f"data.bn_examples ({self.bn_examples}) and data.bn_batch "
                              f"({self.bn_batch}) must be at least 2 (batch statistics need two images)")
        _at_least("data.val_limit", self.val_limit, 1, allow_none=True)
        if self.val_fraction is not None and not 0 <= self.val_fraction < 1:
            raise ConfigError(f"config key 'data.val_fraction' = {self.val_fraction!r} must be in [0, 1) (0: "
                              "no examples held out, with data.val_split: test)")
        if self.val_fraction == 0 and self.val_split != "test":
            raise ConfigError("data.val_fraction 0 holds out no validation examples: set data.val_split: "
                              "test to validate on the test split")


@dataclass
class TrainConfig:
    steps: int = 1000
    # Networks per step; unset (None): the method's own count where it has one (a single
    # network's 1, an ensemble's method.size: `Method.networks_per_step`), else
    # DEFAULT_NOISE_BATCH. The trainer records the count it used in config.yaml.
    noise_batch: int | None = None
    images_per_noise: int = 32
    lr: float = 1e-3
    lr_schedule: LrSchedule = "cosine"
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
    # bf16: the target networks under autocast in training (TargetNet.lower_precision; the
    # hypernetwork, gauge fixing, entropy and discriminators stay fp32; under vmap, the GPU
    # path, TargetNet casts the convolutions autocast misses). compile: torch.compile
    # of the training loss. Both off by default: bf16 paid on an AMX CPU (bench/precision.py)
    # and is expected to cost where the hardware lacks it; compile slowed the CPU step
    # (bench/compile_step.py).
    precision: Precision = "fp32"
    compile: bool = False
    # Early stopping: also keep the model of the best validation accuracy (best.safetensors);
    # evaluate, sample and report then use it.
    keep_best: bool = False
    # Every optimizer group's optimizer: "adam", or "sgd" with heavy-ball momentum (unset: 0.9;
    # Adam takes none). Weight decay is the method's own ``method.weight_decay``.
    optimizer: OptimizerKind = "adam"
    momentum: float | None = None
    # Adam's fused kernel: the same update up to rounding, 3-4x faster over large parameter sets
    # (bench/bookkeeping.py). A run folder from before it (2026-12-06) has no such key and keeps
    # the per-tensor Adam it trained with (`runs.read_config`), so its resume stays exact.
    fused: bool = True
    # Every network sees the whole training set, in order, at every step (images_per_noise must
    # then equal its size): seed 002's 20-point regression.
    full_batch: bool = False

    def __post_init__(self) -> None:
        check_choices("train", self)
        for key in ("steps", "images_per_noise", "val_every", "val_networks", "checkpoint_every"):
            _at_least(f"train.{key}", getattr(self, key), 1)
        _at_least("train.noise_batch", self.noise_batch, 1, allow_none=True)
        for key in ("lr_warmup", "lr_decay_every", "seed"):
            _at_least(f"train.{key}", getattr(self, key), 0)
        _at_least("train.threads", self.threads, 1, allow_none=True)
        # Beyond these, torch overflowed with a traceback: threads and seeds at the first call
        # (a rank's seed, seed + 7919·rank, after the run folder was written), a rate beyond
        # float32 at the first optimizer step, the folder then stuck.
        if self.threads is not None and self.threads > MAX_THREADS:
            raise ConfigError(f"config key 'train.threads' = {self.threads!r} must be at most {MAX_THREADS}")
        if self.seed > MAX_SEED:
            raise ConfigError(f"config key 'train.seed' = {self.seed!r} must be at most 2**62")
        if not 0 < self.lr <= FLOAT32_MAX:
            raise ConfigError(f"config key 'train.lr' = {self.lr!r} must be a positive number (at most "
                              f"{FLOAT32_MAX:.1e}, float32's largest)")
        if not 0 <= self.lr_min_factor <= 1:
            raise ConfigError(f"config key 'train.lr_min_factor' = {self.lr_min_factor!r} must be in [0, 1]")
        if not self.lr_decay > 0:
            raise ConfigError(f"config key 'train.lr_decay' = {self.lr_decay!r} must be positive")
        if self.lr_schedule == "step" and self.lr_decay_every < 1:
            # Accepted, the rate never decayed: lr_decay_every 0 means "never".
            raise ConfigError("train.lr_schedule 'step' needs train.lr_decay_every of at least 1 (steps "
                              f"between decays), got {self.lr_decay_every}")
        if self.momentum is not None and self.optimizer != "sgd":
            raise ConfigError(f"config key 'train.momentum' = {self.momentum!r} applies to "
                              "train.optimizer 'sgd' only; remove it or set train.optimizer=sgd")
        if self.momentum is not None and not 0 <= self.momentum < 1:
            raise ConfigError(f"config key 'train.momentum' = {self.momentum!r} must be in [0, 1)")
        _at_least("train.log_every", self.log_every, 1)

    def check_for_training(self, new_run: bool = True) -> None:
        """What only training refuses (a run folder trained before these checks still reopens):
        above 1 the step schedule's decay grew the rate without bound, past float32 in the end.
        A new run (``new_run``) also may not hold settings that would do nothing: decay settings
        beside another schedule, a warm-up as long as the run (the rate never reached train.lr);
        they were accepted without a word."""
        if self.lr_schedule == "step" and self.lr_decay > 1:
            raise ConfigError(f"config key 'train.lr_decay' = {self.lr_decay!r} must be in (0, 1] with "
                              "train.lr_schedule 'step'")
        if not new_run:
            return
        if self.lr_schedule != "step" and (self.lr_decay_every or self.lr_decay != 1):
            raise ConfigError(f"train.lr_decay ({self.lr_decay:g}) and train.lr_decay_every "
                              f"({self.lr_decay_every}) apply to train.lr_schedule 'step' only; with "
                              f"{self.lr_schedule!r} they would do nothing: remove them")
        if self.lr_warmup >= self.steps:
            raise ConfigError(f"train.lr_warmup {self.lr_warmup} must be below train.steps {self.steps}: the "
                              "rate would never reach train.lr")


# The method a config without method.name trains (the embedded digits demo's).
DEFAULT_METHOD = "deutsch"


@dataclass
class Config:
    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # Method settings are validated by the method's own config class (see hyperzoo.methods).
    # The defaults are the embedded digits demo; λ = 3·10³ suits its 1,197 training images.
    method: dict[str, Any] = field(default_factory=lambda: {"name": DEFAULT_METHOD, "lam": 3000.0})
    train: TrainConfig = field(default_factory=TrainConfig)
    # Not a setting: `train` draws one for each new run folder and stamps its checkpoints with it,
    # so a checkpoint copied in from another run (with the same shapes) is refused, not resumed.
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def method_name(self) -> str:
        """``method.name``, or the default method's where the config names none."""
        return self.method.get("name", DEFAULT_METHOD)


def _check_type(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        # By type too: True == 1, and YAML reads an unquoted `off` as False. A str subclass (a
        # `str` Enum member, numpy's str_) is its string: the choice itself is kept (YAML cannot
        # write the subclass into config.yaml).
        for c in choices:
            if value == c and isinstance(value, type(c)) and not isinstance(value, bool):
                return c
        # `--set train.precision=off`: YAML's False, where the text may have been meant.
        hint = " (YAML read the text as a boolean: quote it)" if isinstance(value, bool) else ""
        raise ConfigError(f"config key {path!r} = {value!r} is not one of "
                          f"{', '.join(map(repr, choices))}{hint}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # "X or None": X's own message, which can name an element
            return _check_type(path, value, options[0])
        for arg in options:
            try:
                return _check_type(path, value, arg)
            except ConfigError as e:
                if arg is float and isinstance(value, float):  # a number, but not a finite one
                    raise e from None
        raise ConfigError(f"config key {path!r} = {value!r} has the wrong type; expected {annotation}")
    base = origin or annotation
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # a traceback, for a number with 400 digits
            raise ConfigError(f"config key {path!r} = {value!r} must be a finite number") from None
    if base is float and isinstance(value, str):
        # YAML 1.1 reads "1e4" (no dot) as a string; accept it as the number it means.
        try:
            value = float(value)
        except ValueError:
            pass
    if base is float and isinstance(value, float):
        if not math.isfinite(value):  # NaN or ±inf: a loss of NaN or inf at the first step
            raise ConfigError(f"config key {path!r} = {value!r} must be a finite number")
        return value
    if base is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if base in (list, tuple) and isinstance(value, (list, tuple)):
        item = typing.get_args(annotation)[0] if typing.get_args(annotation) else Any
        items = [_check_type(f"{path}[{i}]", v, item) for i, v in enumerate(value)]
        # Every list of ints in these configs is a list of sizes: layer widths, an input shape.
        if item is int and any(v < 1 for v in items):
            raise ConfigError(f"config key {path!r} = {value!r}: sizes must be at least 1")
        return items
    if isinstance(base, type) and isinstance(value, base) and not (
            base is int and isinstance(value, bool)):
        return value
    hint = ""
    if base is str and isinstance(value, (int, float, bool)) or (base is str and value is None):
        hint = " (YAML read the text as a number, boolean or null: quote it, e.g. --set key=\"'2024'\")"
    raise ConfigError(f"config key {path!r} = {value!r} has the wrong type; expected "
                      f"{getattr(base, '__name__', base)}{hint}")


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (safe_load kept the
    last: a second `train:` section replaced the first whole, without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: list = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`, resolved by the base class
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:  # a list, not a set: an unhashable key is yaml's own error below
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.append(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, what: str) -> Any:
    """``yaml.safe_load`` (a key given twice refused) with a syntax error as one `ConfigError`
    line naming ``what``."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"{what} is not valid YAML: {problem}{where}") from e


_YAML_FLOATS = (".nan", ".inf", "+.inf", "-.inf")


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML) to a nested dict in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r} is not of the form key=value")
    key, _, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if parts in (["run_id"], ["data", "sha256"], ["target", "module_class"]):
        # Accepted, it would be replaced at train without a word: a new folder is a new run.
        raise ConfigError(f"--set {assignment!r}: {key.strip()} is not a setting; train records "
                          "each new run's own (--resume keeps the folder's)")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is not a section")
    value = parse_yaml(raw, f"--set {assignment!r}")
    text = raw.strip()
    if isinstance(value, str) and text[:1] not in ("'", '"'):
        # YAML 1.1 reads "1e5" (no dot) as a string; a user writing it means the number. A
        # quoted one stays text ('2024', a folder's name: the hint of a wrong-type error).
        try:
            value = float(value)
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and text.lower() not in _YAML_FLOATS:
        # YAML 1.1 read 010 as octal 8, 1:30 as 90 and 0x10 as 16: decimal digits mean decimal
        # numbers, the rest stays text (and a number setting refuses it).
        if re.fullmatch(r"[-+]?\d[\d_]*", text):
            value = int(text)
        elif re.fullmatch(r"[-+]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?", text):
            value = float(text)
        else:
            value = text
    node[parts[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
                ) -> Config:
    """Defaults ← YAML file ← ``--set`` overrides. No file gives the embedded digits demo."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            what = "is a folder, not a YAML file" if path.is_dir() else "does not exist"
            raise ConfigError(f"config file {str(path)!r} {what}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:  # a data file passed as CONFIG: a traceback before
            raise ConfigError(f"config file {str(path)!r} is not a UTF-8 YAML file ({e.reason} at byte "
                              f"{e.start}); a data set goes in --set data.dataset=PATH") from e
        data = parse_yaml(text, f"config file {str(path)!r}") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
        for section in ("target", "data", "method", "train"):
            # Before the overrides: one into this section blamed --set for the file's mistake.
            if section in data and not isinstance(data[section], dict):
                raise ConfigError(f"config file {str(path)!r}: section {section!r} must be a mapping of "
                                  f"keys (e.g. '{section}:' then '  name: ...' indented), got "
                                  f"{data[section]!r}")
    # Overrides merge into the method section: the file's, else the default one (so
    # ``--set method.z_dim=300`` keeps the default λ). A section whose method an override
    # replaces (``--set method.name=hypergan``) keeps only the overridden keys: the others are
    # the replaced method's (a file's `lam` was refused as unknown to the new method).
    default_method = "method" not in data
    if default_method:
        data["method"] = copy.deepcopy(Config().method)
    given = data["method"].get("name", DEFAULT_METHOD) if isinstance(data["method"], dict) else None
    overridden: set[str] = set()
    whole = False
    for assignment in overrides:
        apply_override(data, assignment)
        key = assignment.partition("=")[0].strip().split(".")
        if key == ["method"]:
            whole = True  # a whole section of one's own: all of it is the user's
        if key[0] == "method" and len(key) > 1:
            overridden.add(key[1])
    if not isinstance(data["method"], dict):
        raise ConfigError(f"config section 'method' must be a mapping, got {data['method']!r}")
    if not whole and data["method"].get("name", DEFAULT_METHOD) != given:
        dropped = sorted(k for k in data["method"] if k not in overridden and k != "name")
        if dropped and not default_method:  # the file's own settings, gone without a word
            note(f"method.name {data['method'].get('name')!r} replaces the config file's method {given!r}: "
                 f"its settings ({', '.join(dropped)}) belong to {given!r} and are dropped; the new "
                 "method takes its defaults and the --set keys")
        data["method"] = {k: v for k, v in data["method"].items() if k in overridden}
    cfg = from_dict(Config, {k: v for k, v in data.items() if k != "method"})
    cfg.method = {"name": DEFAULT_METHOD, **data["method"]}
    return cfg

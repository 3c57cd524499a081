"""The Python API, mirroring the CLI: ``fit`` a hypernetwork to your own ``nn.Module`` and data,
then ``sample``, ``evaluate``, ``export`` and score out-of-distribution sets (``ood``) through
the returned ``Run``; ``load`` reopens a run folder.

A run trained from Python reopens like any other: the module is recorded in ``config.yaml`` by
its import path and keyword arguments when a fresh process can rebuild it, and in-memory data
smaller than ``DATA_LIMIT_BYTES`` is saved in the run folder as ``<name>.npz``. Otherwise the
run folder's ``REOPEN.txt`` says what ``load`` must be given again.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from hyperzoo import fingerprint
from hyperzoo.config import (
    DEFAULT_METHOD,
    Config,
    ConfigError,
    DataConfig,
    from_dict,
    load_config,
    parse_yaml,
)
from hyperzoo.data import DataError, Dataset, load_dataset
from hyperzoo.data.custom import UINT8_SCALED, as_images, as_targets, same_scaling, tensors_sha256
from hyperzoo.data.registry import own_holdout
from hyperzoo.errors import UserError
from hyperzoo.notes import held, note
from hyperzoo.runs import RunError, checkpoint_step, read_config
from hyperzoo.session import Session, leaves_global_state, load_run, sample_networks
from hyperzoo.targets.registry import build_target, import_path_of
from hyperzoo.targets.statistics import STAT_NAMES
from hyperzoo.weights import WeightBatch, atomic_write, atomic_write_text

DATA_LIMIT_BYTES = 50 * 2**20
REOPEN = "REOPEN.txt"
# Data as the API takes it: (x, y) tensors or arrays, a torch Dataset yielding (x, y), a
# hyperzoo Dataset, or a built-in name / path (as data.dataset in a config).
Data = Union[tuple[Any, Any], torch.utils.data.Dataset, Dataset, str, Path]  # noqa: UP007


def to_dataset(data: Data, name: str, split: str, shape: Sequence[int] | None = None,
               label: str | None = None) -> Dataset:
    """``data`` as an in-memory hyperzoo Dataset (a torch Dataset is read once, in full, into
    memory through a DataLoader; its items must be (image, label) pairs). ``shape``: the
    target's input shape where known (inputs of that shape are taken as they are, `as_images`).
    ``label``: what messages call it (the argument's name, ``test_data``; default ``name``)."""
    label = label or name
    if isinstance(data, Dataset):
        # On the CPU, as every other form is made (`as_images`): the trainer and the metrics
        # move batches themselves, and a Dataset on the GPU met CPU predictions in the metrics.
        if data.x.device.type == "cpu" and data.y.device.type == "cpu":
            return data
        return dataclasses.replace(data, x=data.x.cpu(), y=data.y.cpu())
    if isinstance(data, (str, Path)):
        return load_dataset(str(data), split)
    if isinstance(data, torch.utils.data.Dataset):
        data = _read_torch_dataset(data, label)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise DataError(f"{label}: expected (x, y), a torch Dataset, a Dataset or a name/path; "
                        f"got {type(data).__name__}")
    x = as_images(data[0], f"{label} x", None if shape is None else tuple(shape))
    y = as_targets(data[1], f"{label} y")
    if len(x) != len(y):
        raise DataError(f"{label}: x has {len(x)} examples but y has {len(y)}")
    if not len(x):
        raise DataError(f"{label}: no examples")
    if y.is_floating_point():  # real-valued targets: a regression set
        return Dataset(x, y, name, split, 0)
    return Dataset(x, y, name, split, int(y.max()) + 1)


def _read_torch_dataset(data: torch.utils.data.Dataset, name: str, labels: bool = True
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """A torch Dataset's (image, label) items as ``(x, y)``, each item checked (a PIL image, a
    string label or images of two sizes failed in the DataLoader's collation, with its traceback).
    ``labels=False`` (outliers): items may be images alone; y is then zeros."""
    xs, ys = [], []
    for i, item in enumerate(torch.utils.data.DataLoader(data, batch_size=None)):  # items, uncollated
        if not labels and isinstance(item, (torch.Tensor, np.ndarray)):
            item = (item, 0)
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            what = (f"has {len(item)} parts" if isinstance(item, (list, tuple))
                    else f"is a {type(item).__name__}")
            raise DataError(f"{name}: a torch Dataset must yield (image, label) pairs; item {i} {what}")
        image, label = item
        if not isinstance(image, (torch.Tensor, np.ndarray)):
            raise DataError(f"{name}: item {i}'s image is a {type(image).__name__}; expected a tensor or "
                            "array (a PIL image needs a transform such as torchvision's ToTensor)")
        count = label.numel() if isinstance(label, torch.Tensor) else np.size(label)
        if isinstance(label, (str, bytes)) or count != 1:  # tensor([3]) is one number too
            raise DataError(f"{name}: item {i}'s label is {label!r}; expected one number (a class index)")
        if xs and tuple(image.shape) != tuple(xs[0].shape):
            raise DataError(f"{name}: item {i}'s image has shape {tuple(image.shape)}, item 0's "
                            f"{tuple(xs[0].shape)}; every image must have one shape")
        xs.append(torch.as_tensor(image))
        ys.append(torch.as_tensor(label).reshape(()))
    if not xs:
        raise DataError(f"{name}: the torch Dataset is empty")
    return torch.stack(xs), torch.stack(ys)


class Run:
    """A trained run folder, reopened: sample networks, evaluate them, export them, score OOD."""

    def __init__(self, run_dir: str | Path, session: Session):
        self.dir = Path(run_dir)
        self.session = session
        self._kept_statistics: tuple[tuple, WeightBatch] | None = None  # `_networks`

    @property
    def config(self) -> Config:
        return self.session.config

    @property
    def method(self) -> nn.Module:
        return self.session.method

    @property
    def target(self):  # TargetNet; typed loosely to keep this module's imports light
        return self.session.target

    def __repr__(self) -> str:
        return (f"Run({str(self.dir)!r}, method={self.config.method_name!r}, "
                f"target={self.config.target.name!r}, data={self.config.data.dataset!r})")

    def sample(self, n: int = 10, seed: int = 0) -> WeightBatch:
        """``n`` networks as a weight batch ``{name: (n, *shape)}``; a batch-norm target's
        networks with their running statistics, from one pass over the run's training images
        (as ``hyperzoo sample``; kept for the next call with the same ``n`` and ``seed``, here and
        in `predict_proba`). A method holding a fixed set (an ensemble) refuses more than it holds."""
        return self._networks(n, seed)

    def _networks(self, n: int, seed: int) -> WeightBatch:
        """`sample_networks`, with a batch-norm target's running statistics of the last draw
        kept (``(n, C)`` per norm, small): they take a pass over the training images (16.5 s for
        20 networks of a small ResNet on 4,400 images, against 0.03 s for their predictions),
        which predict_proba called batch by batch repeated at every call. The weights are drawn
        again each time (deterministic); the statistics are kept for the same ``n``, ``seed``,
        session and method state (parameters and buffers unchanged: torch's version counters)."""
        if not self.target.has_statistics:
            return sample_networks(self.session, n, seed)
        method = self.session.method
        key = (n, seed, id(self.session), id(method),
               tuple(t._version for t in (*method.parameters(), *method.buffers())))
        if self._kept_statistics is not None and self._kept_statistics[0] == key:
            kept = {k: v.clone() for k, v in self._kept_statistics[1].items()}  # a caller may write to them
            return sample_networks(self.session, n, seed, statistics=kept)
        weights = sample_networks(self.session, n, seed)
        self._kept_statistics = key, {k: v.clone() for k, v in weights.items()
                                      if k.rsplit(".", 1)[-1] in STAT_NAMES}
        return weights

    def predict_proba(self, x: torch.Tensor, networks: int = 100, seed: int = 0) -> torch.Tensor:
        """Class probabilities of ``networks`` sampled networks on inputs ``x`` (B, C, H, W):
        shape (N, B, classes)."""
        from hyperzoo.evaluation import predict_proba
        from hyperzoo.workflows import capped, refuse_regression

        refuse_regression(self.session, "predict_proba gives class probabilities (for a regression run: "
                                        "hyperzoo.evaluation.predict(run.target, run.sample(n), x))")
        n = capped(self.session, networks, "predicts with")  # a fixed set's fewer: said, as evaluate does
        with torch.no_grad():
            x = as_images(x, "x", self.target.input_shape)
            if tuple(x.shape[1:]) != tuple(self.target.input_shape):  # before any network is drawn
                raise DataError(f"x has inputs of shape {tuple(x.shape[1:])} but the run's target takes "
                                f"{tuple(self.target.input_shape)}")
            if len(x) == 0:  # the batched call's own ValueError named the networks too
                raise DataError("x holds no inputs; give at least one")
            return predict_proba(self.target, self._networks(n, seed), x)

    def evaluate(self, data: Data | torch.Tensor | None = None, y: Any = None, networks: int = 100,
                 split: str = "test", seed: int = 0, progress: bool = False) -> dict[str, Any]:
        """Metrics of ``networks`` sampled networks and their ensemble (as ``hyperzoo evaluate``).

        Without ``data``: on the run's own ``split``, written to ``metrics-<split>.json``. With
        ``data`` (x with ``y``, or any form ``fit`` takes): on it, returned only."""
        from hyperzoo.workflows import evaluate_run

        given = None
        if data is not None:
            # A data set by path: its test split (there is no split named "given" to read).
            part = "test" if isinstance(data, (str, Path)) else "given"
            given = to_dataset((data, y) if y is not None else data, "data", part, self.target.input_shape)
        metrics = evaluate_run(self.dir, networks, split=split, seed=seed, progress=progress,
                               session=self.session, data=given)
        if given is None:
            self._record("evaluate", networks=networks, split=split, seed=seed)
        return metrics

    def _record(self, name: str, folder: Path | None = None, /, **kwargs: Any) -> None:
        """A line in command.txt of ``folder`` (the run's own by default), which this call wrote
        into, as ``hyperzoo.fit`` records itself: ``hyperzoo.Run.evaluate run=… networks=100 …``
        (paths as text, lists comma-separated)."""
        from hyperzoo.runs import record_command

        def text(v: Any) -> str:
            return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
        record_command(folder or self.dir, [f"hyperzoo.Run.{name}", f"run={self.dir}",
                                            *(f"{k}={text(v)}" for k, v in kwargs.items())])

    def export(self, n: int, out: str | Path, seed: int = 0, progress: bool = False) -> list[Path]:
        """``n`` sampled networks as safetensors state dicts of the plain module (``sample``);
        ``progress``: a bar while a batch-norm target's statistics are estimated."""
        from hyperzoo.workflows import export_networks

        return export_networks(self.dir, n, out, seed, session=self.session, progress=progress)

    def ood(self, *outliers: Data | torch.Tensor, networks: int = 100, inliers: Data | None = None,
            limit: int | None = None, out: str | Path | None = None, seed: int = 0,
            outlier_dir: str | None = None) -> dict[str, Any]:
        """Out-of-distribution detection by predictive entropy against each outlier set (as
        ``hyperzoo ood``): a built-in name or path, images ``x``, ``(name, x)``, or a Dataset.
        Inliers: the run's test split unless given. Per-set metrics under ``"sets"``."""
        from hyperzoo.workflows import ood_run

        sets: list[str | Dataset] = []
        for i, o in enumerate(outliers):
            if isinstance(o, (str, Path)):
                sets.append(str(o))
            elif isinstance(o, Dataset):
                sets.append(o)
            else:
                name, x = o if isinstance(o, tuple) and isinstance(o[0], str) else (f"outliers{i + 1}", o)
                if isinstance(x, torch.utils.data.Dataset):  # np.asarray of it: a ValueError, or no end
                    x = _read_torch_dataset(x, name, labels=False)[0]
                x = as_images(x, name, self.target.input_shape)
                # Labels are not used for detection; zeros keep the Dataset well-formed.
                sets.append(Dataset(x, torch.zeros(len(x), dtype=torch.int64), name, "test", 1))
        inl = to_dataset(inliers, "inliers", "test", self.target.input_shape) if inliers is not None else None
        result = ood_run(self.dir, sets, networks, None, limit, seed, out, outlier_dir=outlier_dir,
                         session=self.session, inliers=inl, progress=False)
        if out is not None:
            names = [s if isinstance(s, str) else s.name for s in sets]
            self._record("ood", Path(out), outliers=names, networks=networks,
                         inliers="given" if inl is not None else "test", limit=limit, seed=seed,
                         **({"outlier_dir": outlier_dir} if outlier_dir else {}))
        return result

    def tune_noise(self, sigmas: Sequence[float] | None = None, networks: int = 10, limit: int | None = None,
                   seed: int = 0) -> dict[str, Any]:
        """A ``gaussian_noise`` run's σ of least validation NLL over ``sigmas`` (default
        `noise_tuning.DEFAULT_SIGMAS`), written into the run and kept by this Run (as ``hyperzoo
        tune-noise``, which cannot rebuild a module defined in a script)."""
        from hyperzoo.noise_tuning import DEFAULT_SIGMAS, tune_noise_scale

        record = tune_noise_scale(self.dir, DEFAULT_SIGMAS if sigmas is None else sigmas, networks,
                                  limit=limit, seed=seed, session=self.session)
        self._record("tune_noise", None, networks=networks, seed=seed,
                     **({"sigmas": list(sigmas)} if sigmas is not None else {}))
        return record

    def polyak(self, k: int = 10, split: str = "test", limit: int | None = None, seed: int = 0,
               coordinates: str = "gauge") -> dict[str, Any]:
        """Seed 003's Polyak distillation (as ``hyperzoo polyak``): ``k`` sampled networks averaged
        into one, scored on ``split``; returned, not written."""
        from hyperzoo.workflows import polyak_run

        return polyak_run(self.dir, k, None, split, limit, seed, coordinates, session=self.session)

    def report(self, out: str | Path, networks: int = 200, compare: Sequence[str | Path] = (),
               limit: int | None = None, adv_limit: int = 200, path_limit: int | None = None,
               path_pairs: int = 10, seed: int = 0, ood: str | None = None, ood_networks: int = 100,
               detection_sizes: Sequence[int] | None = None, detection_eps: float = 0.1,
               transfer_networks: int = 500, ambiguous: int = 12, data_dir: str | None = None,
               progress: bool = True, trust_code: bool = False) -> dict[str, Any]:
        """The papers' analyses into ``out``, with ``networks`` sampled per run (as ``hyperzoo
        report``, whose options these are; `report.make_report`)."""
        from hyperzoo.report import make_report

        # One run given as a path was a list of its characters.
        compare = [compare] if isinstance(compare, (str, Path)) else list(compare or ())
        options = {"compare": compare, "limit": limit, "adv_limit": adv_limit, "path_limit": path_limit,
                   "path_pairs": path_pairs, "seed": seed, "ood": ood, "ood_networks": ood_networks,
                   "detection_sizes": None if detection_sizes is None else list(detection_sizes),
                   "detection_eps": detection_eps, "transfer_networks": transfer_networks,
                   "ambiguous": ambiguous, "data_dir": data_dir, "trust_code": trust_code}
        rep = make_report(self.dir, out, pool=networks, session=self.session, progress=progress, **options)
        self._record("report", Path(out), networks=networks,
                     **{k: v for k, v in options.items() if v is not None and v != []})
        return rep


@leaves_global_state
def load(run_dir: str | Path, module: nn.Module | None = None, checkpoint: str | None = None,
         trust_code: bool = False, train_data: Data | None = None) -> Run:
    """Reopen a run folder. ``module``: the target module of a run trained from one that cannot
    be imported by name (its ``REOPEN.txt`` says so). ``trust_code`` allows importing a target
    named by import path in the folder's config.yaml (it runs that code). ``train_data``: the
    ``train_data`` given to ``fit`` where it was too large to keep in the folder (``REOPEN.txt``);
    a batch-norm target's networks take their statistics from it."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    name, dataset = config.target.name, config.data.dataset
    if module is None and name.startswith("<"):
        raise RunError(f"{run_dir} was trained from an in-memory module {name}; reopen it with "
                       "hyperzoo.load(run_dir, module=...)")
    _check_class(run_dir, config, module)
    if module is not None:
        fingerprint.check(run_dir, module)
    if train_data is not None and not dataset.startswith("<in-memory"):
        raise ConfigError(f"train_data is for runs whose data was kept in memory only; {run_dir} "
                          f"reads its data from {dataset!r}")
    session = load_run(run_dir, checkpoint=checkpoint, module=module, trust_code=trust_code)
    last = checkpoint_step(run_dir) or 0  # the last checkpoint's, not the kept best model's
    if last < config.train.steps:
        # An interrupted run reopens as it stands: say so, and how to finish it.
        # The command line cannot rebuild an in-memory module or data set: not offered for those.
        cli = not (name.startswith("<") or dataset.startswith("<in-memory"))
        # An import path needs --trust-code on the command line (the class is the caller's here).
        trust = " --trust-code" if ":" in name else ""
        command = f" (or hyperzoo train --resume {shlex.quote(str(run_dir))}{trust})"
        note(f"{run_dir} stopped at step {last} of {config.train.steps}; finish it with "
             f"hyperzoo.resume(run_dir, ...){command if cli else ''}")
    if train_data is not None:
        session.train_data = _given_split(train_data, config, run_dir)[0]
    return Run(run_dir, session)


@leaves_global_state
def resume(run_dir: str | Path, module: nn.Module | None = None, train_data: Data | None = None,
           trust_code: bool = False, progress: bool = True) -> Run:
    """Continue an interrupted run to its ``train.steps`` (as ``hyperzoo train --resume``) and
    return it reopened: the way on for a run ``fit`` trained from an in-memory module, which
    the command line cannot rebuild. ``module``, ``train_data`` and ``trust_code`` as in `load`."""
    from hyperzoo.train import train as run_training

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if module is None and config.target.name.startswith("<"):
        raise RunError(f"{run_dir} was trained from an in-memory module {config.target.name}; resume it "
                       "with hyperzoo.resume(run_dir, module=...)")
    _check_class(run_dir, config, module)
    if module is not None:
        fingerprint.check(run_dir, module)
    data = None
    if config.data.dataset.startswith("<in-memory"):
        if train_data is None:
            raise RunError(f"{run_dir} trained on data kept in memory only ({config.data.dataset}); resume "
                           "it with hyperzoo.resume(run_dir, train_data=(x, y))")
        data = _given_split(train_data, config, run_dir)
    elif train_data is not None:
        raise ConfigError(f"train_data is for runs whose data was kept in memory only; {run_dir} reads its "
                          f"data from {config.data.dataset!r}")
    run_training(None, run_dir, resume=True, progress=progress, trust_code=trust_code,
                 module=copy.deepcopy(module) if module is not None else None, data=data,
                 argv=["hyperzoo.resume", f"run={run_dir}"])
    return load(run_dir, module=module, trust_code=trust_code, train_data=train_data)


def _given_split(train_data: Data, config: Config, run_dir: Path) -> tuple[Dataset, Dataset]:
    """The ``train_data`` given again for a run whose data fit kept in memory only, split as fit
    split it: the examples the run trained on, and its validation ones. Refused unless they are
    the data the run recorded (``data.sha256``; runs from before it are not checked)."""
    name = config.data.dataset[len("<in-memory "):-1]
    shape = tuple(config.target.input_shape) if config.target.input_shape else None
    given = to_dataset(train_data, name, "trainval", shape)
    if config.data.sha256 is not None and tensors_sha256(given.x, given.y) != config.data.sha256:
        # Other data resumed the run, or gave its networks their batch-norm statistics, unsaid.
        raise DataError(f"train_data is not the data {run_dir} trained on (its SHA-256 is not "
                        "config.yaml's data.sha256): give the same examples, in the same order (a "
                        "torch Dataset with random transforms gives others at every read: give arrays)")
    return _split(given, config.data)


def _check_class(run_dir: Path, config: Config, module: nn.Module | None) -> None:
    """Refuse a ``module`` of another class than the one the run trained (``target.module_class``;
    folders from before it are not checked): any module of the same shapes was accepted, and
    its evaluation written over the run's own metrics."""
    trained, given = config.target.module_class, type(module).__qualname__
    if module is not None and trained is not None and trained != given:
        raise RunError(f"{run_dir} trained a {trained} target; the module given is a {given}: reopen it "
                       f"with a {trained}")


def _config_dict(config: Config | str | Path | dict | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Config):
        return config.to_dict()
    if isinstance(config, dict):
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    # As `hyperzoo train` reads one: a syntax error in one line, a key given twice refused.
    return parse_yaml(path.read_text(encoding="utf-8"), f"config file {str(path)!r}") or {}


def _build_config(config: Config | str | Path | dict | None, sections: dict[str, Any]) -> Config:
    """Defaults ← ``config`` ← ``sections`` (each a dict merged into that section)."""
    data = _config_dict(config)
    if not isinstance(data, dict):  # a YAML file holding a list: an AttributeError's traceback
        raise ConfigError(f"fit(config=...) must hold a mapping of config sections, got {data!r}")
    if "method" in data and not isinstance(data["method"], dict):  # a TypeError's traceback
        raise ConfigError(f"config section 'method' must be a mapping, got {data['method']!r}")
    given_method = "method" in data  # the config's own method section, before fit's keys
    for key, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"fit(..., {key}=...) must be a dict of that config section's keys, "
                              f"got {value!r}")
        data[key] = {**data.get(key, {}), **value}
    cfg = from_dict(Config, {k: v for k, v in data.items() if k != "method"})
    if "method" in data:
        method = data["method"]
        default = Config().method
        if not given_method and method.get("name", default["name"]) == default["name"]:
            # Keys for the default method merge over its section, as --set does: method={"z_dim":
            # 100} dropped the default λ (3·10³) for the method's own (10³) without a word.
            method = {**default, **method}
        cfg.method = {"name": DEFAULT_METHOD, **method}
    return cfg


def _guess_kwargs(module: nn.Module) -> dict[str, Any]:
    """Constructor arguments read back from same-named attributes (``self.width = width``), for
    plain values only; checked by rebuilding the module, so a wrong guess is never recorded."""
    kwargs = {}
    try:
        params = inspect.signature(type(module)).parameters.values()
    except (TypeError, ValueError):
        return {}
    for p in params:
        value = getattr(module, p.name, None)
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and isinstance(value, (bool, int, float, str)):
            kwargs[p.name] = value
    return kwargs


def _computes_the_same(rebuilt: nn.Module, module: nn.Module, input_shape: Sequence[int] | None) -> bool:
    """``rebuilt`` computes what ``module`` does: their fingerprints agree (`fingerprint`: the
    same fixed weights and batch-norm statistics in both, every other buffer each one's own, as
    a reopened run's would be, on fixed inputs of ``input_shape``). A constructor argument kept in
    no shape or printout (``self.g = gain``, a lambda over it, a buffer set after construction)
    shows there. Without a shape, or where either fails, it cannot be told: False."""
    if input_shape is None:
        return False
    a, b = (fingerprint.fingerprint(m, input_shape) for m in (rebuilt, module))
    return a is not None and b is not None and a[0].shape == b[0].shape and fingerprint.close(a[0], b[0])


def _record_module(module: nn.Module, cfg: Config, input_shape: Sequence[int] | None) -> str | None:
    """Set ``cfg.target`` to rebuild ``module`` by import path, where a rebuild computes what it
    does on inputs of ``input_shape``; else mark it in-memory and return why (for REOPEN.txt)."""
    path = import_path_of(module)
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    attributes = _guess_kwargs(module)
    if path is not None:
        # Guessed arguments first: a flag that changes the function but no shape (an input
        # standardisation) would otherwise pass as the class default. A rebuild must agree on
        # shapes and on every such attribute.
        for kwargs in ({**attributes, **cfg.target.kwargs}, cfg.target.kwargs):
            try:
                rebuilt = build_target(path, kwargs)
            except Exception:  # any failure only means: not rebuildable from what we know
                continue
            # Its printout too: it shows arguments kept in submodules (nn.LeakyReLU(slope)); and
            # its outputs with the module's weights, which show every other value it keeps.
            if ({k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == shapes
                    and _guess_kwargs(rebuilt) == attributes and repr(rebuilt) == repr(module)
                    and _computes_the_same(rebuilt, module, input_shape)):
                cfg.target.name, cfg.target.kwargs = path, kwargs
                return None
    cls = type(module).__qualname__
    cfg.target.name = f"<in-memory {cls}>"
    return (f"the target module {cls} cannot be rebuilt by name (defined in a script or notebook, its "
            "constructor arguments unknown: pass fit(..., target={'kwargs': {...}}), or it holds a value "
            "its constructor does not set, such as a buffer changed after it was built)")


@leaves_global_state
def fit(module: nn.Module | str, train_data: Data, config: Config | str | Path | dict | None = None,
        out: str | Path | None = None, *, test_data: Data | None = None,
        input_shape: Sequence[int] | None = None, name: str = "data", progress: bool = True,
        **sections: dict[str, Any]) -> Run:
    """Train a hypernetwork for ``module`` on ``train_data`` into run folder ``out`` (a new
    temporary folder when None) and return the reopened ``Run``: ``hyperzoo train`` from Python.

    ``module``: an ``nn.Module`` (its weights are not used: the method generates them; the run
    works on a copy, so the module itself is left as it was, where it can be copied) or a
    target name.
    ``train_data``/``test_data``: ``(x, y)`` with x ``(n, C, H, W)`` or ``(n, H, W)`` (uint8
    scaled to [0, 1], floats kept; finite) and integer labels, a torch Dataset of (x, y) pairs (read once
    into memory), or a data set name/path; in-memory sets are called ``name`` in every output and
    lose ``data.val_fraction`` (default 1/10) of their examples to validation. ``config``: a
    Config, YAML path or dict; ``sections`` (``method={...}``, ``train={...}``, ``data={...}``,
    ``target={...}``) are merged over it, e.g. ``fit(net, (x, y), method={"lam": 1e4},
    train={"steps": 500})``. ``input_shape`` (C, H, W), or whatever one example's shape is
    (``(C, L)`` for a Conv1d): inputs of that shape are taken as they are, not guessed.
    """
    from hyperzoo import distributed

    if distributed.launched() and int(os.environ["WORLD_SIZE"]) > 1:
        # Every process would write the data file and the folder (and make its own temporary one).
        raise ConfigError("hyperzoo.fit trains in one process; under torchrun, train a config with "
                          "`torchrun ... --no-python hyperzoo train CONFIG --out RUN_DIR`")
    unknown = sorted(set(sections) - {"target", "data", "method", "train"})
    if unknown:
        # Any other keyword lands here: say what fit takes, not only its sections.
        raise ConfigError(f"fit() got an unexpected keyword argument {unknown[0]!r}; it takes the config "
                          "sections target, data, method and train (dicts), and config, out, test_data, "
                          "input_shape, name and progress (progress=False: no progress bar)")
    cfg = _build_config(config, sections)
    notes = []
    if isinstance(module, str):
        cfg.target.name, module = module, None
    elif not isinstance(module, nn.Module):
        raise ConfigError(f"fit() takes an nn.Module or a target name, got {type(module).__name__}")
    else:
        # A copy: training moves the target to train.device and sets its mode; the caller's
        # module stays as it was. The library copies it again (the gauge check, a thread's
        # copy, an ensemble's members), so one that cannot be copied is refused here, in one line.
        try:
            module = copy.deepcopy(module)
        except Exception as e:  # deepcopy fails in many ways; each means "cannot be copied"
            raise ConfigError(f"fit needs copies of your {type(module).__name__}, which copy.deepcopy "
                              f"refuses ({type(e).__name__}: {e}); keep what it holds (a lock, a file, "
                              "a connection) outside the module") from e
    plain = isinstance(name, str) and name and not name.startswith(".") and Path(name).name == name
    if not plain or "\\" in name:
        # It names <name>.npz in the run folder: "../x" wrote over a file of the user's outside it.
        raise ConfigError(f"fit(name={name!r}) names the data set in outputs and its file in the run "
                          "folder: give one plain name, such as 'mydata'")
    made = out is None or not Path(out).exists()
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="hyperzoo-"))  # once it is accepted
    written: list[Path] = []
    try:
        return _fit_into(out, module, train_data, test_data, cfg, input_shape, name, progress, notes, written)
    except BaseException:
        # A run stopped before it began (refused for its data or config, a bug in the user's
        # forward, Ctrl-C) leaves nothing behind: a retry into the same folder found fit's own
        # data file and refused the folder. One whose run began keeps its config.yaml and stays.
        if not (out / "config.yaml").exists():
            for path in written:
                path.unlink(missing_ok=True)
            if made and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
        raise


def _keep_data(out: Path, name: str, train: Dataset, test: Dataset | None, input_shape: Sequence[int] | None,
               cfg: Config, written: list[Path], notes: list[str]
               ) -> tuple[list[int], tuple[Dataset, Dataset] | None]:
    """fit's in-memory data checked and kept: in ``name``.npz in ``out`` (recorded in ``written``
    first) where small, else in memory (a note in ``notes``). Returns the input shape and, for
    data kept in memory, its training and validation split (`_split`)."""
    from hyperzoo.train import check_new_run_dir

    shape = list(train.input_shape)
    if input_shape is not None and tuple(input_shape) != tuple(shape):
        raise DataError(f"input_shape {tuple(input_shape)} does not match the data's {tuple(shape)}")
    if test is not None and test.input_shape != train.input_shape:
        raise DataError(f"test_data has inputs of shape {test.input_shape}, train_data {train.input_shape}")
    cfg.target.input_shape = shape
    arrays = {"x_train": train.x, "y_train": train.y,
              **({"x_test": test.x, "y_test": test.y} if test is not None else {})}
    check_new_run_dir(out, own=())  # before this function writes anything there
    if sum(a.numel() * a.element_size() for a in arrays.values()) < DATA_LIMIT_BYTES:
        path = out / f"{name}.npz"
        written.append(path)
        # With the input shape: a reader must not guess the layout of (n, C, L) sequences.
        # Written whole (a file object: np.savez would add ".npz" to the temporary's name).
        atomic_write(path, lambda tmp: _savez(tmp, {k: v.cpu().numpy() for k, v in arrays.items()},
                                              input_shape=np.array(shape)))
        cfg.data.dataset = str(path.resolve())
        return shape, None
    # Not a path: a file of that name in the working directory must never stand in for it.
    cfg.data.dataset = f"<in-memory {name}>"
    cfg.data.sha256 = tensors_sha256(train.x, train.y)  # resume and load check the data given again
    notes.append(f"the data ({name!r}) was too large to keep here: reopen with hyperzoo.load(run_dir, "
                 "train_data=(x, y)) (a batch-norm target's networks take their statistics from it), and "
                 "give the data to score again: Run.evaluate(x, y), Run.ood(..., inliers=(x, y))")
    kept, val = _split(train, cfg.data)
    if cfg.data.val_split == "test":  # validated on the test split, as a data file's run is
        if test is None:
            raise ConfigError("data.val_split 'test' validates on the test split: give test_data")
        val = test
    return shape, (kept, val)


def _fit_into(out: Path, module: nn.Module | None, train_data: Data, test_data: Data | None, cfg: Config,
              input_shape: Sequence[int] | None, name: str, progress: bool, notes: list[str],
              written: list[Path]) -> Run:
    """`fit`'s work once ``module`` and the config are accepted: the data, then training into
    ``out``; each file it writes there goes into ``written`` first."""
    from hyperzoo.train import check_new_run_dir
    from hyperzoo.train import train as run_training

    in_memory = None
    shape: Sequence[int] | None = input_shape
    if isinstance(train_data, (str, Path)):
        cfg.data.dataset = str(train_data)
        if test_data is not None:
            raise ConfigError("test_data goes with in-memory train_data; a named data set has its "
                              "own test split")
        if shape is None and module is not None:
            try:  # one example's shape, to tell whether a rebuilt module computes the same
                shape = load_dataset(cfg.data.dataset, "trainval", cfg.data.data_dir).input_shape
            except UserError:  # training says what is wrong with the data set
                shape = None
    else:
        # Held: where the data go into fit's file, training reads it and says them again.
        with held() as data_notes:
            if test_data is not None and all(isinstance(d, (tuple, list)) and len(d) == 2
                                             for d in (train_data, test_data)):
                same_scaling(train_data[0], test_data[0], "train_data x", "test_data x")
            train = to_dataset(train_data, name, "trainval", input_shape, label="train_data")
            test = (to_dataset(test_data, name, "test", input_shape, label="test_data")
                    if test_data is not None else None)
        filed = False
        try:
            shape, in_memory = _keep_data(out, name, train, test, input_shape, cfg, written, notes)
            filed = in_memory is None
        finally:
            for said in data_notes:
                # A data file: training reads it and says them, naming it, but for the uint8 one:
                # the file holds the scaled floats.
                if not filed or UINT8_SCALED in said:
                    note(said)
    if module is not None:
        why = _record_module(module, cfg, shape)
        if why:
            notes.append(why + "; reopen with hyperzoo.load(run_dir, module=MyModule(...))")
    # Only what this call wrote: any other .npz would have been a file of the user's.
    own = [p.name for p in written]
    if notes:
        check_new_run_dir(out, own=tuple(own))
        own.append(REOPEN)
        written.append(out / REOPEN)
        atomic_write_text(out / REOPEN, "Reopening this run needs more than the folder:\n"
                          + "".join(f"- {n}\n" for n in notes))
    if module is not None and cfg.target.name.startswith("<in-memory") and shape is not None:
        # Reopening takes the user's module again: what it computes is checked against this.
        written.append(out / fingerprint.FILE)
        if fingerprint.write(out, module, shape):
            own.append(fingerprint.FILE)
    run_training(cfg, out, argv=["hyperzoo.fit", f"module={cfg.target.name}", f"data={cfg.data.dataset}"],
          progress=progress, module=module, data=in_memory, own_files=tuple(own))
    # The module was the caller's own (a class it imported): reopening it imports nothing new.
    # In float32 (fit's own copy), as training ran it: its float64 note was said once already.
    session = load_run(out, module=module.float() if module is not None else None, trust_code=True)
    if in_memory is not None:
        session.train_data = in_memory[0]  # for batch-norm statistics: the folder has no copy
    return Run(out, session)


def _savez(path: Path, arrays: dict[str, np.ndarray], **more: np.ndarray) -> None:
    with path.open("wb") as f:
        np.savez(f, **arrays, **more)


def _split(data: Dataset, d: DataConfig) -> tuple[Dataset, Dataset]:
    """Train and validation examples of ``data``, held out as a file of the user's would be."""
    train, val = own_holdout(data.name, len(data), d.val_fraction, d.val_pick)
    return (Dataset(data.x[train], data.y[train], data.name, "train", data.num_classes),
            Dataset(data.x[val], data.y[val], data.name, "val", data.num_classes))


__all__ = ["Run", "fit", "load", "load_config", "resume", "to_dataset"]

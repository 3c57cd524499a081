"""Build everything a config describes, or reopen a trained run folder."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import torch
from torch import nn

from hyperzoo.config import Config, ConfigError, DataConfig
from hyperzoo.data import NO_DATA, DataError, Dataset, load_dataset, read_for
from hyperzoo.data.custom import data_sha256, resolve_path
from hyperzoo.devices import module_device, reopen_device, resolve_device
from hyperzoo.errors import RunError
from hyperzoo.methods import METHODS, Method, build_method, resolve_noise_batch
from hyperzoo.notes import note
from hyperzoo.progress import progress_bar
from hyperzoo.runs import BEST, CHECKPOINT, load_checkpoint, read_config
from hyperzoo.targets import TargetNet, build_target, estimate_bn_statistics
from hyperzoo.targets.target_net import eval_mode
from hyperzoo.weights import WeightBatch


@dataclass
class Session:
    """A config made concrete: data (optional), target and method."""

    config: Config
    target: TargetNet
    method: Method
    train_data: Dataset | None = None
    val_data: Dataset | None = None
    checkpoint: str | None = None  # the file a reopened run was loaded from
    checkpoint_step: int | None = None


def load_split(d: DataConfig, split: str, data_dir: str | Path | None = None,
               task: str = "classification") -> Dataset:
    """``split`` of a run's data set, held out as its config says (``data.val_fraction``,
    ``data.val_pick``), read for a method of ``task`` (`read_for`); ``data_dir`` in place of
    the config's, where given. A data file whose SHA-256 is not the recorded one
    (``data.sha256``) is refused."""
    if d.dataset.startswith("<in-memory"):
        raise DataError(f"this run's data ({d.dataset}) was kept in memory only, not in its folder: give "
                        "the examples from Python, e.g. Run.evaluate(x, y) on hyperzoo.load(run_dir, ...)")
    path = resolve_path(d.dataset, data_dir or d.data_dir) if d.sha256 else None
    if path is not None and data_sha256(path) != d.sha256:
        # --data-dir cannot help: a run's data path is absolute, looked for elsewhere only if gone.
        what = ("the data file this run trained on (its SHA-256" if path.is_file() else
                "the data this run trained on (the SHA-256 of its data files' names and contents")
        raise DataError(f"{path} is not {what} is not config.yaml's data.sha256): it changed since; put "
                        "the run's own data back there")
    return read_for(load_dataset(d.dataset, split, data_dir or d.data_dir, d.val_fraction, d.val_pick), task)


def limit_dataset(data: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` examples of ``data`` (all of them when ``limit`` is None or 0)."""
    if limit is not None and limit < 0:  # a slice would silently drop examples from the end
        raise ConfigError(f"--limit must be at least 0 (0: every example), got {limit}")
    if not limit or limit >= len(data):
        return data
    first = Dataset(data.x[:limit], data.y[:limit], data.name, data.split, data.num_classes)
    _note_missing_classes(data, first.y, f"the first {limit} of its {len(data)} examples")
    return first


_noted: set[tuple[str, str, str]] = set()


def _note_missing_classes(data: Dataset, kept: torch.Tensor, which: str) -> None:
    """A note (once per data set, split and subset) where the first examples kept lack classes
    the whole split holds: a file sorted by class validated, or estimated batch-norm statistics,
    on its first classes alone."""
    if data.task != "classification" or (data.name, data.split, which) in _noted:
        return
    have, held = int(kept.unique().numel()), int(data.y.unique().numel())
    if have < held and len(kept) >= 2 * held:  # fewer examples than classes miss some anyway
        _noted.add((data.name, data.split, which))
        note(f"{data.name} {data.split}: {which} hold {have} of its {held} classes (sorted by "
             "class?); numbers on them leave the others out")


P, R = ParamSpec("P"), TypeVar("R")


def leaves_global_state(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` leaves torch's global random state (CPU, and CUDA where started) and thread count
    as the caller had them: building a session seeds the global generator (its initial values
    repeat), and training sets ``train.threads``; a user's own draws after ``load`` changed."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        threads, cpu = torch.get_num_threads(), torch.get_rng_state()
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)
    return wrapper


def check_target(module: nn.Module, name: str, data: Dataset) -> None:
    """One line, before any training, when the target cannot take ``data``'s inputs or has fewer
    outputs than its classes (a shape mismatch deep in a forward pass is a long traceback)."""
    shape = data.input_shape
    p = next(module.parameters(), None)
    try:
        with torch.no_grad(), eval_mode(module):
            out = module(torch.zeros(2, *shape, dtype=p.dtype if p is not None else None,
                                     device=p.device if p is not None else None))
    except RuntimeError as e:
        first = next((m for m in module.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))),
                     None)
        # Name the first layer's expectation only where that layer is the one that disagrees.
        wants = ""
        if isinstance(first, nn.Linear) and first.in_features != math.prod(shape):
            wants = f" (its first layer takes {first.in_features} features)"
        elif first is not None and not isinstance(first, nn.Linear) and first.in_channels != shape[0]:
            wants = f" (its first layer takes {first.in_channels} channels)"
        layout = " (C, H, W)" if len(shape) == 3 else ""
        hint = ""
        if len(shape) == 3 and shape[0] == 1 and isinstance(first, nn.Conv1d):
            # Sequences (n, C, L) were guessed to be one-channel images (n, 1, C, L): say how to
            # give the layout, as ood's refusal of the same inputs does.
            hint = (f"; its examples were read as one-channel images: give inputs shaped {shape[1:]} "
                    f"with an input_shape key in the .npz, or fit(..., input_shape={shape[1:]}) "
                    "(target.input_shape does not change how a data set's file is read)")
        raise ConfigError(f"target {name!r}{wants} cannot take the inputs of data set {data.name!r} of "
                          f"shape {shape}{layout}: {str(e).splitlines()[0]}{hint}") from None
    if not isinstance(out, torch.Tensor):
        raise ConfigError(f"target {name!r} returns a {type(out).__name__}; its forward must return one "
                          "tensor of outputs (B, classes)")
    if data.task == "regression" and (out.dim() != 2 or out.shape[-1] != 1):
        # Why the set is a regression set: its values, or the method's task over whole numbers.
        whole = bool(((data.y == data.y.round()) & (data.y >= 0)).all())
        why = ("its whole-number targets are read as real values because method.task is regression"
               if whole else "its targets hold negative or non-integer values, read as real values; "
               "class labels are 0, 1, …")
        raise ConfigError(f"target {name!r} outputs shape {tuple(out.shape[1:])} per example but the "
                          f"regression set {data.name!r} needs one output (1,) ({why})")
    if out.dim() != 2 or out.shape[-1] < data.num_classes:
        # A one-output target on whole-number targets: most likely meant as regression.
        hint = (" (whole numbers from 0 are read as class labels; for regression use method.name "
                "hypergan with method.task: regression)" if out.dim() == 2 and out.shape[-1] == 1 else "")
        if out.dim() == 2 and out.shape[-1] == data.num_classes - 1 and not bool((data.y == 0).any()):
            # Labels 1..C: one class more than the target has, class 0 never seen.
            hint = (f" (no label is 0: if your labels run 1-{data.num_classes - 1}, subtract 1; classes "
                    "start at 0)")
        raise ConfigError(f"target {name!r} outputs shape {tuple(out.shape[1:])} per example but data set "
                          f"{data.name!r} has {data.num_classes} classes (labels 0-{data.num_classes - 1}): "
                          f"expected ({data.num_classes},), one logit per class" + hint)
    if (out.shape[-1] > 1 and out.device.type != "meta"  # a module without values yet (no GPU in tests)
            and bool((out >= 0).all()) and torch.allclose(out.sum(-1), out.new_ones(()))):
        # Softmax again on top (the loss and every prediction take logits): probabilities
        # squashed toward uniform, NLL and calibration wrong, training weak; log_softmax is fine.
        note(f"target {name!r} outputs probabilities (non-negative, summing to 1): hyperzoo takes its "
             "outputs as logits and applies softmax itself; return logits (or log_softmax) from forward")


# Built-in sets of digits and letters, whose mirror images mean something else.
GLYPH_SETS = ("digits", "mnist", "notmnist", "mnist-5000")


def build_session(config: Config, with_data: bool = True, module: nn.Module | None = None,
                  data: tuple[Dataset, Dataset] | None = None, trust_code: bool = True,
                  device: torch.device | str | None = None) -> Session:
    """Seed, then build data, target and method (the seed makes initialisation repeatable).

    ``module`` replaces building ``config.target`` by name, and ``data`` (train, validation)
    replaces loading ``config.data``: the Python API's in-memory model and data.
    ``trust_code=False`` refuses a target given by import path (a config read from a run
    folder is data, not code). The target module and the method are built on the CPU (the same
    initial values on every device kind) and then moved to ``device`` (default
    ``config.train.device``); data stay on the CPU and are moved batch by batch."""
    torch.manual_seed(config.train.seed)
    d = config.data
    name = config.method_name
    needs_data = METHODS[name][1].needs_data if name in METHODS else True
    if needs_data != (d.dataset != NO_DATA) and data is None:
        raise ConfigError(f"method {name!r} " + ("needs a data set, but data.dataset is 'none'" if needs_data
                                                 else f"trains without data: set data.dataset to 'none' "
                                                      f"(got {d.dataset!r})"))
    train_data = val_data = None
    shape: tuple[int, ...] | None = None
    task = str(config.method.get("task", "classification"))  # only HyperGAN's config has one
    if data is not None:
        train_data, val_data = read_for(data[0], task), limit_dataset(read_for(data[1], task), d.val_limit)
        shape = train_data.input_shape
    elif with_data and d.dataset != NO_DATA:
        train_data = load_split(d, "train", task=task)
        val_data = limit_dataset(load_split(d, d.val_split, task=task), d.val_limit)
        shape = train_data.input_shape
    elif config.target.input_shape:
        shape = tuple(config.target.input_shape)
    if shape is None and d.dataset != NO_DATA:
        shape = load_split(d, "test").input_shape
    if module is None:
        if config.target.name.startswith("<in-memory"):
            raise ConfigError(f"this run was trained from an in-memory module {config.target.name}; "
                              "reopen it from Python with hyperzoo.load(run_dir, module=...)")
        module = build_target(config.target.name, config.target.kwargs, trust_code=trust_code)
    if shape is None:  # no data: the module states its input (a built-in target's input_shape)
        if not hasattr(module, "input_shape"):
            raise ConfigError(f"data.dataset is {NO_DATA!r}: set target.input_shape for target "
                              f"{config.target.name!r}")
        shape = tuple(module.input_shape)
    if train_data is not None:
        if d.augment != "none" and len(train_data.input_shape) != 3:
            raise ConfigError(f"data.augment {d.augment!r} crops images (C, H, W); data set "
                              f"{train_data.name!r} has inputs of shape {train_data.input_shape}")
        if d.augment == "crop_flip" and d.dataset in GLYPH_SETS:
            raise ConfigError(f"data.augment 'crop_flip' mirrors images, and a mirrored digit or letter of "
                              f"{d.dataset!r} is another glyph (or none); use 'crop'")
        check_target(module, config.target.name, train_data)
    wide = sorted({str(t.dtype).removeprefix("torch.") for t in (*module.parameters(), *module.buffers())
                   if t.is_floating_point() and t.dtype != torch.float32})
    if wide:
        # Every method generates float32 networks: a float64 buffer beside them failed mid-run
        # (mat1 and mat2 must have the same dtype), float64 parameters became float32 unsaid.
        note(f"target {config.target.name!r} holds {', '.join(wide)} parameters or buffers; "
             "hyperzoo generates float32 networks, so it runs in float32")
        module = copy.deepcopy(module).float()  # a copy: a module given to hyperzoo.load stays the user's
    # Before the TargetNet, which keeps references to the module's buffers.
    module.to(resolve_device(config.train.device if device is None else device))
    target = TargetNet(module, shape, backend=config.target.backend)  # type: ignore[arg-type]
    method = build_method(target, config.method, len(train_data) if train_data is not None else None)
    config.train.noise_batch = resolve_noise_batch(config)  # a config of one's own may leave it unset
    if train_data is not None and train_data.task != method.task:
        raise ConfigError(f"data set {train_data.name!r} is a {train_data.task} set but method "
                          f"{config.method_name!r} trains for {method.task}"
                          + (f" (set method.task: {train_data.task})" if hasattr(method.config, "task") else
                             " (regression: method.name hypergan with method.task regression)"
                             if train_data.task == "regression" else ""))
    method.to(module_device(module))
    return Session(config, target, method, train_data, val_data)


def load_run(run_dir: str | Path, data_dir: str | None = None, checkpoint: str | None = None,
             module: nn.Module | None = None, trust_code: bool = False,
             device: torch.device | str | None = None) -> Session:
    """Reopen a trained run (method in eval mode); ``data_dir`` overrides the saved one.

    ``checkpoint`` names the file; by default the best-validation model (``best.safetensors``,
    early stopping) where the run kept one, else the last checkpoint. The checkpoint is
    verified (content hash, metadata, finite values). ``module`` is the target module of a run
    trained from one that cannot be imported by name. ``trust_code`` allows a target given by
    import path in the folder's config.yaml (importing it runs its code). ``device`` defaults to
    the run's ``train.device`` as this machine can hold it (`reopen_device`: the CPU where that
    names CUDA and none is present, ``cuda`` for a ``cuda:N`` beyond the GPUs here; checkpoints
    hold CPU tensors and load onto any device)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if data_dir is not None:
        config.data.data_dir = data_dir
    if device is None:  # a run trained on a GPU, reopened where there is none or fewer: quietly
        device = reopen_device(config.train.device)[0]
    session = build_session(config, with_data=False, module=module, trust_code=trust_code,
                            device=device)
    name = checkpoint or (BEST if (run_dir / BEST).is_file() else CHECKPOINT)
    session.checkpoint_step = load_checkpoint(run_dir, session.method, name=name,
                                              max_step=config.train.steps, run_id=config.run_id)
    session.checkpoint = name
    session.method.eval()
    return session


def statistics_images(session: Session, limit: int | None = None) -> torch.Tensor:
    """Training images for batch-norm statistics: ``data.bn_examples`` of them (all when unset),
    at most ``limit``, a fixed random subset in data order (the first ones of a file sorted by
    class were its first classes alone); loaded once per session."""
    if session.train_data is None:
        d = session.config.data
        if d.dataset.startswith("<in-memory"):
            raise RunError(f"the run's training data ({d.dataset}) was not kept in its folder, and the "
                           "batch-norm target's networks need it for their statistics: reopen with "
                           "hyperzoo.load(run_dir, train_data=(x, y))")
        # The run's own training split: with data.val_fraction, not the held-out examples.
        session.train_data = load_split(d, "train", task=session.method.task)
    x = session.train_data.x
    k = min(len(x), session.config.data.bn_examples or len(x), limit or len(x))
    if k == len(x):
        return x  # every image (`estimate_bn_statistics` shuffles the batches itself)
    kept = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:k].sort().values
    _note_missing_classes(session.train_data, session.train_data.y[kept],
                          f"the {k} images batch-norm statistics take")
    return x[kept]


def sample_networks(session: Session, n: int, seed: int, progress: bool = False,
                    limit: int | None = None, statistics: WeightBatch | None = None) -> WeightBatch:
    """``n`` networks of the session's method from noise seed ``seed``; for a batch-norm target,
    with each network's running statistics from one pass over training images (seed 003 §H),
    or ``statistics``, those of an earlier call with the same arguments on the same method
    (`hyperzoo.api.Run` keeps them).

    The statistics are recomputed on every call (deterministic given the seed and the data),
    not cached: a run folder stores the method, not its samples."""
    held = session.method.max_networks
    if n < 1:  # a fixed set's [:n] gave one network for -2; a hypernetwork, a reshape's traceback
        raise ConfigError(f"the number of networks (networks, --networks) must be at least 1, got {n}")
    if held is not None and n > held:
        raise ConfigError(f"this run's method {session.config.method_name!r} holds {held} "
                          f"network{'s' if held != 1 else ''}; asked for {n}")
    with torch.no_grad():
        # Detached: a method that holds its networks hands out slices of its parameters.
        weights = {k: v.detach() for k, v in
                   session.method.sample(n, generator=torch.Generator().manual_seed(seed)).items()}
        if not session.target.has_statistics:
            return weights
        if statistics is not None:
            return {**weights, **statistics}
        x = statistics_images(session, limit)
        with progress_bar(total=len(x), desc="batch-norm statistics", show=progress, unit="img",
                  leave=False) as bar:
            return estimate_bn_statistics(session.target, weights, x, session.config.data.bn_batch,
                                          progress=lambda k: bar.update(k - bar.n))

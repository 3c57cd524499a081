"""The training loop: any `Method`, one protocol, a run folder that can be resumed exactly."""

from __future__ import annotations

import copy
import json
import math
import os
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from hyperzoo import distributed
from hyperzoo.config import Config, TrainConfig
from hyperzoo.data import DataError, Dataset, absolute_dataset
from hyperzoo.data.augment import augment
from hyperzoo.data.custom import data_sha256
from hyperzoo.data.registry import lacks_test_split
from hyperzoo.devices import bf16_emulated, reopen_device, resolve_device, to_device
from hyperzoo.diagnostics import SILENT_BELOW, activity
from hyperzoo.errors import ConfigError, UserError
from hyperzoo.evaluation import ensemble_metrics, predict, predict_proba, regression_metrics
from hyperzoo.methods import Method, resolve_method_config
from hyperzoo.notes import note, torchrun_prefix
from hyperzoo.optimizers import make_optimizers
from hyperzoo.progress import progress_bar
from hyperzoo.runs import (
    BEST,
    LOCK,
    TRAINER_FILES,
    RunError,
    append_command,
    append_comment,
    check_run_id,
    checkpoint_meta,
    checkpoint_step,
    load_checkpoint,
    lock_run,
    read_config,
    read_metrics,
    remove_stale_temporaries,
    resume_note,
    save_checkpoint,
    truncate_metrics,
    validation_score_of,
    write_config,
)
from hyperzoo.schedules import lr_factor
from hyperzoo.session import Session, build_session, statistics_images
from hyperzoo.targets import estimate_bn_statistics
from hyperzoo.targets.target_net import check_trainable
from hyperzoo.weights import open_own, temporary_of


class TrainingDiverged(RuntimeError):
    """The loss, gradients, parameters or optimizer state became NaN or infinite; the run
    folder keeps its last good checkpoint (nothing is saved after the bad step)."""


# Training images for the batch-norm statistics of the networks validated during training
# (at most; data.bn_examples may ask for fewer): a full pass at every validation would cost
# more than the validation itself.
VALIDATION_BN_EXAMPLES = 1024
# Validation examples the dead-layer check runs the validation networks on (one network at a time).
DIAGNOSIS_EXAMPLES = 256


class Validation(NamedTuple):
    metrics: dict[str, float]
    activity: dict[str, float]  # each ReLU layer's share of nonzero outputs (`diagnostics.activity`)
    after: dict[str, str]  # each ReLU's preceding layer, by its label (fc1), for messages


@torch.no_grad()
def validate(method: Method, data: Dataset, n_networks: int, seed: int,
             statistics_x: torch.Tensor | None = None, bn_batch: int = 256) -> Validation:
    """Accuracy (RMSE for a regression set) of ``n_networks`` networks drawn from a fixed noise seed
    (comparable across steps), and the activity of the target's ReLU layers in them (on the
    first `DIAGNOSIS_EXAMPLES` examples); a batch-norm target's networks get running statistics
    from ``statistics_x``."""
    was_training = method.training
    method.eval()
    n_networks = method.capped(n_networks)
    weights = method.sample(n_networks, generator=torch.Generator().manual_seed(seed))
    if method.target.has_statistics:
        if statistics_x is None:
            raise ValueError("validating a batch-norm target needs training images for its statistics")
        weights = estimate_bn_statistics(method.target, weights, statistics_x, bn_batch)
    if data.task == "regression":
        metrics = regression_metrics(predict(method.target, weights, data.x)[..., 0], data.y)
    else:
        metrics = ensemble_metrics(predict_proba(method.target, weights, data.x), data.y)
    after: dict[str, str] = {}
    active = activity(method.target, weights, data.x[:DIAGNOSIS_EXAMPLES], after)
    method.train(was_training)
    return Validation(metrics, active, after)


def dead_layer_message(step: int, silent: dict[str, float], before: set[str], networks: int,
                       after: dict[str, str] | None = None) -> str:
    """What changed in the dead-layer check: layers newly (nearly) silent, with their activity,
    and layers of ``before`` active again (after a resume the check starts afresh, so a layer
    still silent is named again). ``after``: the layer each ReLU follows, named beside it."""
    lines = []
    where = after or {}
    if new := {name: share for name, share in silent.items() if name not in before}:
        shares = ", ".join(f"{name!r}{f' (after {where[name]})' if name in where else ''} on {share:.2%}"
                           for name, share in new.items())
        lines.append(f"warning: step {step}: ReLU layer(s) active on under {SILENT_BELOW:.0%} of their "
                     f"outputs in {networks} validation networks ({shares}): almost no gradient reaches "
                     "the layers below them, so those barely learn while it lasts (inputs on a large "
                     "scale, such as 0-255 pixels, do this too); see the README, "
                     "\"A run that does not learn\"")
    if again := sorted(before - silent.keys()):
        lines.append(f"note: step {step}: ReLU layer(s) {', '.join(map(repr, again))} active again")
    return "\n".join(lines)


def validation_score(metrics: dict[str, float]) -> float:
    """Higher is better: the mean single-network accuracy, or minus its RMSE (regression)."""
    return metrics["mean_accuracy"] if "mean_accuracy" in metrics else -metrics["mean_rmse"]


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


# Adam's second moments: averages of squared gradients, never negative, where a 2-norm would
# square them again and overflow float32 once they pass about 1.8e19 / sqrt(entries) (steady
# gradients near 1e8 in a tensor of 1e6 entries): a finite run was stopped.
_SQUARES = ("exp_avg_sq", "max_exp_avg_sq")


def _state_tensors(optimizer: torch.optim.Optimizer, squares: bool = False) -> list[torch.Tensor]:
    """The optimizer's floating-point state (``squares``: its second moments alone; else the
    rest), without Adam's step counter: it is a float tensor kept on the CPU whatever the
    parameters' device, and stacking it with CUDA sums fails."""
    return [v for p in _params(optimizer) for k, v in optimizer.state.get(p, {}).items()
            if k != "step" and (k in _SQUARES) == squares and torch.is_tensor(v) and v.is_floating_point()]


def _finite(tensors: list[torch.Tensor], device: torch.device, nonnegative: bool = False) -> torch.Tensor:
    """Whether every tensor is finite, as a 0-dim bool tensor left on the device (no sync).
    One multi-tensor 2-norm per list: a NaN or infinity carries through it, and finite entries
    overflow float32 only beyond about 1e19 / sqrt(numel), far past any trained value. On a GPU
    that is a few kernels where a sum per tensor launched one each, about 140 per paper-scale
    step. Not the 1-norm: its CPU kernel is several times slower (with per-tensor Adam, half of
    a HyperGAN MNIST step; bench/bookkeeping.py)."""
    if not tensors:
        return torch.ones((), dtype=torch.bool, device=device)
    if nonnegative:  # the largest entry: +inf and NaN carry through max, and nothing overflows
        return torch.stack(torch._foreach_max(tensors)).isfinite().all()
    return torch.stack(torch._foreach_norm(tensors, 2)).isfinite().all()


def step_optimizers(method: Method, optimizers: dict[str, torch.optim.Optimizer],
                    out: dict[str, torch.Tensor], world: distributed.World | None = None,
                    sync: bool = True) -> str | None | list[tuple[str, torch.Tensor]]:
    """One backward and step per optimizer group: ``"model"`` on ``out["loss"]``, group ``g`` on
    ``out["loss_g"]``; another group whose loss needs no gradient is not stepped. The model's loss may
    pass through another group's parameters (a discriminator), whose gradients from it are
    discarded by the next ``zero_grad``. Under
    torchrun each group's gradients are averaged over the processes before its step.

    Returns what became non-finite (a group's gradients, checked before its step; then every
    parameter and optimizer state), or None: one fused check per list, so it stays cheap.
    ``sync=False`` reads nothing (no host sync): it returns every check as (message, 0-dim bool
    tensor on the device) for the caller to read later, and steps even on non-finite gradients
    (the trainer then saves nothing after that step)."""
    device = out["loss"].device
    checks: list[tuple[str, torch.Tensor]] = []
    for name, optimizer in optimizers.items():
        loss = out["loss" if name == "model" else f"loss_{name}"]
        if name != "model" and not loss.requires_grad:  # nothing to learn this step (HyperGAN's
            continue  # pre-training): no step either, which Adam would count in its bias correction
        method.zero_grad(set_to_none=True)
        loss.backward()
        if world is not None:
            distributed.average_gradients(world, _params(optimizer))
        grads = [p.grad for p in _params(optimizer) if p.grad is not None]
        checks.append((f"the gradients of optimizer group {name!r} became NaN or infinite",
                       _finite(grads, device)))
        if sync and not bool(checks[-1][1]):
            return checks[-1][0]
        optimizer.step()
    for name, optimizer in optimizers.items():
        checks.append((f"the parameters of optimizer group {name!r} became NaN or infinite",
                       _finite(_params(optimizer), device)))
        checks.append((f"the optimizer state of group {name!r} became NaN or infinite",
                       _finite(_state_tensors(optimizer), device)
                       & _finite(_state_tensors(optimizer, squares=True), device, nonnegative=True)))
    if not sync:
        return checks
    return next((message for message, ok in checks if not bool(ok)), None)


Pending = tuple[int, float, list[str], torch.Tensor, list[str], torch.Tensor]


def read_rows(pending: list[Pending], world: distributed.World
              ) -> tuple[list[dict[str, float]], tuple[int, str] | None]:
    """Metrics rows of the steps in ``pending`` (step, lr, keys, scalars on the device, check
    messages, check flags on the device): one transfer to the host for all of them (and one
    all-reduce averaging the processes' shares). Also the first (step, message) that went
    non-finite (the loss, else the first failed check), or None."""
    flat = torch.cat([t for p in pending for t in (p[3], p[5].float())])
    values = distributed.average(world, flat).cpu().tolist()
    rows, bad, i = [], None, 0
    for done, lr, keys, _, messages, _ in pending:
        scalars = values[i:i + len(keys)]
        flags = values[i + len(keys):i + len(keys) + len(messages)]
        i += len(keys) + len(messages)
        # Seven significant digits (round(v, 6) kept 1-2 of a cross-entropy near 1e-5).
        row = {"step": done, "lr": lr, **{k: float(f"{v:.7g}") for k, v in zip(keys, scalars, strict=True)}}
        # The step as metrics.jsonl counts it (updates done): its 0-based index sent users one
        # row too early.
        if bad is None and not math.isfinite(row["loss"]):
            bad = (done, f"loss became {row['loss']}")
        elif bad is None:
            # A flag averaged over the processes is 1 only where it held on every one.
            failed = [m for m, f in zip(messages, flags, strict=True) if f < 1]
            if failed:
                bad = (done, failed[0])
        rows.append(row)
    return rows, bad


class Batch(NamedTuple):
    """One step's training batch as this process sees it."""

    x: torch.Tensor  # (N, M_share, ...): this process's share of each network's M inputs
    y: torch.Tensor  # (N, M_share)
    probe: torch.Tensor | None  # (P, ...): the whole batch's first P inputs of network 0, or None


def training_batch(data: Dataset | None, n: int, m: int, config: Config, generator: torch.Generator,
                   share: slice = slice(None), device: torch.device | str = "cpu", probe: int = 0
                   ) -> Batch:
    """One step's images (N, M_share, ...) and labels (N, M_share) on ``device``: M different
    images for each of N networks, drawn (and augmented) on the CPU from ``generator``, of
    which this process keeps its ``share`` of every network's M (all of them in one process).
    With ``train.full_batch`` every network gets the whole set in order (M = its size). Without
    data (a method that needs none) the batch holds no examples: (N, 0) each. ``probe`` > 0:
    also the first ``probe`` of network 0's M images (`Method.probe_size`), the same on every
    process, whatever its share."""
    if data is None:
        empty = torch.empty(n, 0, device=device)
        return Batch(empty, empty, None)
    if config.train.full_batch:
        idx = torch.arange(len(data)).repeat(n)
    else:
        idx = torch.randint(len(data), (n * m,), generator=generator)
    # Augmentation draws from the data generator, which the checkpoint keeps.
    x = augment(data.x[idx], config.data.augment, config.data.pad, generator)
    x = x.reshape(n, m, *data.input_shape)
    head = to_device(x[0, :probe], device) if probe else None
    return Batch(to_device(x[:, share], device), to_device(data.y[idx].reshape(n, m)[:, share], device),
                 head)


def batch_loss(loss_of: Callable[..., dict[str, torch.Tensor]], batch: Batch, step: int,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``loss_of`` (a method's ``training_loss``, compiled or not) on ``batch``, with its probe
    where the method asked for one (`Method.probe_size`)."""
    probe = {} if batch.probe is None else {"probe": batch.probe}
    return loss_of(batch.x, batch.y, step, generator=generator, **probe)


def _ours(p: Path) -> bool:
    """Files a run folder may hold before its first checkpoint without being a user's folder:
    the lock and the temporaries of an interrupted atomic write."""
    return p.name == LOCK or temporary_of(p) in TRAINER_FILES


def _out(run_dir: Path | None, own: tuple[str, ...] | None) -> str:
    """The new run's folder as the caller gave it: ``--out`` on the command line, ``out`` to
    ``hyperzoo.fit`` (which passes the files it writes there itself, ``own``)."""
    given = "--out" if own is None else "out"
    return given if run_dir is None else f"{given} {run_dir}"


def check_new_run_dir(run_dir: Path, locked: bool = False, own: tuple[str, ...] | None = None) -> None:
    """Refuse an ``--out`` that is a file, a folder holding other files, or a run (trained, or
    one that stopped before its first checkpoint: never overwrite its config or metrics), or a
    folder another process trains now. ``locked``: the caller holds the folder's lock; ``own``:
    files the caller itself put there for this run (``hyperzoo.fit``'s copy of the data; None:
    the command line's ``--out``, which the messages then name)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{_out(run_dir, own)} is a file, not a folder")
    if not run_dir.is_dir():
        # Found at mkdir otherwise, after the session was built: "[Errno 20] Not a directory".
        above = next((p for p in run_dir.absolute().parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise RunError(f"{_out(run_dir, own)} cannot be made: {above} is a file, not a folder")
        return
    if not locked and (run_dir / LOCK).is_file():
        with lock_run(run_dir):  # raises at once if another process trains it now
            pass
    step = checkpoint_step(run_dir)
    if step is not None:
        try:
            steps = read_config(run_dir).train.steps
        except UserError:
            steps = None
        held = (f"a run stopped at step {step} of {steps}" if steps is not None and step < steps
                else "a trained run")
        raise RunError(f"{run_dir} already holds {held}; use another {_out(None, own)}, or continue it "
                       f"with {torchrun_prefix()}hyperzoo train --resume {shlex.quote(str(run_dir))} "
                       "(hyperzoo.resume from Python)")
    if (run_dir / "config.yaml").is_file():
        raise RunError(f"{run_dir} holds a run that stopped before its first checkpoint; continue it with "
                       f"{torchrun_prefix()}hyperzoo train --resume {shlex.quote(str(run_dir))} "
                       f"(hyperzoo.resume), or delete the folder, or use another {_out(None, own)}")
    other = sorted(p.name for p in run_dir.iterdir() if not _ours(p) and p.name not in (own or ()))
    if other:
        raise RunError(f"{_out(run_dir, own)} is not empty and not a hyperzoo run folder (it holds "
                       f"{other[0]!r}); use a new or empty folder")


# The probe batch's generator is seeded from train.seed but is none of the trainer's own (noise
# seed + 1, data seed + 2, validation seed + 3), so a run with λ "auto" trains exactly as one
# given the resolved number.
CALIBRATION_SEED_OFFSET = 4
# Built-in sets whose splits are fixed: data.val_fraction does not apply.
FIXED_SPLITS = ("digits", "cubic")
# How a resolved setting was measured, where not on one batch at initialisation.
CALIBRATED = {"target_variance": "the variance of the training set's targets"}


def calibrate(config: Config, s: Session, world: distributed.World, device: torch.device) -> None:
    """Resolve the method's ``"auto"`` settings (`Method.calibrate`) on one training batch of
    the run's size, before config.yaml is written: the folder records the numbers, so the run
    resumes, evaluates and reproduces with them. Prints one line per resolved setting. Under
    torchrun every process measures the same batch from the same seed."""
    t = config.train
    gen = torch.Generator().manual_seed(t.seed + CALIBRATION_SEED_OFFSET)
    x, y, _ = training_batch(s.train_data, t.noise_batch, t.images_per_noise, config, gen,
                             device=device)
    resolved = s.method.calibrate(x, y, generator=gen,
                                  targets=None if s.train_data is None else s.train_data.y)
    for key, value in resolved.items():
        if isinstance(value, float):
            # Rank 0's, the one config.yaml records: on a GPU nondeterministic kernels could
            # round the ranks' measurements apart, and each would train with its own.
            value = distributed.broadcast_float(world, value)
            setattr(s.method.config, key, value)
        config.method[key] = value
        if world.main:
            how = CALIBRATED.get(key, "measured on one batch at initialisation")
            print(f"method.{key} auto -> {value:g} ({how}; recorded in config.yaml)", file=sys.stderr)


def train_or_continue(config: Config, run_dir: str | Path, command: str, argv: list[str] | None = None,
                      progress: bool = True) -> str:
    """For the commands that train and then analyse in one go (``demo``, ``toy``,
    ``toy-regression``): train ``config`` into a new ``run_dir``, continue the interrupted run of
    the same setting there, or leave a finished one be; returns ``"trained"``, ``"continued"``
    or ``"finished"``. A folder holding a run of another setting is refused (Ctrl-C left the
    toy's folder "already holding a trained run", and ``train --resume`` finished it without its
    figures; the demo went on with whatever run its folder held)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        train(config, run_dir, argv=argv, progress=progress)
        return "trained"
    held = read_config(run_dir)

    def setting(c: Config) -> tuple:
        return c.method_name, c.target.name, c.data.dataset, c.train.steps, c.train.seed
    if setting(held) != setting(config):
        method, target, dataset, steps, seed = setting(held)
        raise RunError(f"{run_dir} holds another run (method {method}, target {target}, data {dataset}, "
                       f"{steps} steps, seed {seed}) than {command} trains with these options "
                       f"({', '.join(map(str, setting(config)))}): choose another --out")
    step = checkpoint_step(run_dir)
    if step is not None and step >= held.train.steps:
        return "finished"
    note(f"{run_dir} holds this run, stopped at step {step or 0} of {held.train.steps}: continuing it")
    if held.train.threads != config.train.threads:  # free to edit: this command's --threads holds
        held.train.threads = config.train.threads
        write_config(run_dir, held)
    train(None, run_dir, resume=True, argv=argv, progress=progress)
    return "continued"


def train(config: Config | None, run_dir: str | Path, resume: bool = False,
          argv: list[str] | None = None, progress: bool = True, trust_code: bool = False,
          module: torch.nn.Module | None = None, data: tuple[Dataset, Dataset] | None = None,
          own_files: tuple[str, ...] | None = None) -> dict[str, float]:
    """Train ``config`` into ``run_dir`` (or continue it with ``resume``); returns last metrics.

    ``module`` (the target) and ``data`` (train, validation) given in memory replace building
    them from ``config`` (the Python API, ``hyperzoo.fit``), which may have put ``own_files`` in
    the new folder first (None: a command's ``--out``, as refusals name it).
    The config is checked and the whole session built before the folder is created, and the
    folder is locked for the whole run. ``trust_code`` lets ``--resume`` import a target named
    by import path in the folder's config.yaml (a new run's config is the caller's own).

    Started by ``torchrun`` with several processes, every process trains its share of the same
    global batch (`hyperzoo.distributed`); rank 0 alone checks, locks and writes ``run_dir``."""
    run_dir = Path(run_dir)
    config = read_config(run_dir) if resume else config
    if (not resume and config is not None and config.data.dataset in FIXED_SPLITS
            and config.data.val_fraction is not None):
        # Ignored, it was recorded in config.yaml as if it had applied (a folder that has it
        # still reopens: it never had an effect).
        raise ConfigError(f"data.val_fraction {config.data.val_fraction} does not apply to the built-in "
                          f"{config.data.dataset!r} set, whose splits are fixed: leave it unset")
    assert config is not None
    # A resumed GPU run continues on a machine with none, or fewer (`reopen_device`).
    spec, moved = reopen_device(config.train.device) if resume else (config.train.device, None)
    world, device = distributed.init(resolve_device(spec))
    if moved and world.main:
        print(moved, file=sys.stderr)
    finished = False
    try:
        with torch.enable_grad():  # also when called under torch.no_grad() (a notebook's evaluation)
            last = _train(config, run_dir, resume, argv, progress, trust_code, module, data, own_files,
                          world, device)
        finished = True
        return last
    finally:
        distributed.shutdown(world, finished)


def train_to_completion(config: Config, run_dir: str | Path, argv: list[str] | None = None,
                        progress: bool = True) -> float | None:
    """Train ``config`` into ``run_dir``, or finish it: a new folder is trained, an unfinished run
    (stopped before or after a checkpoint) resumed from its own config.yaml, a run that reached
    ``config.train.steps`` left as it is. For scripts that train many runs and are started again
    after a stop. Returns the wall seconds this call trained, None for a finished run."""
    run_dir = Path(run_dir)
    done = checkpoint_step(run_dir)
    if done is not None and done >= config.train.steps:
        return None
    start = time.perf_counter()
    if done is None and not (run_dir / "config.yaml").is_file():
        train(config, run_dir, argv=argv, progress=progress)
    else:
        train(None, run_dir, resume=True, argv=argv, progress=progress)
    return round(time.perf_counter() - start, 1)


def _train(config: Config, run_dir: Path, resume: bool, argv: list[str] | None, progress: bool,
           trust_code: bool, module: torch.nn.Module | None, data: tuple[Dataset, Dataset] | None,
           own_files: tuple[str, ...] | None, world: distributed.World, device: torch.device
           ) -> dict[str, float]:
    if not resume:
        # Refused early, before the session is built. Under torchrun the check waits for `lead`
        # below, where a refusal reaches the other processes instead of leaving them waiting.
        if not world.distributed:
            check_new_run_dir(run_dir, own=own_files)
        config = copy.deepcopy(config)
        # A new folder is a new run, also when its config was copied from another's config.yaml;
        # under torchrun rank 0's id, the one it writes.
        config.run_id = distributed.broadcast_hex(world, uuid.uuid4().hex)
        # config.yaml records every default of the method, so the run keeps its meaning.
        config.method = resolve_method_config(config.method)
        if config.data.data_dir:
            # Absolute, so evaluate/report/resume work from any working directory.
            config.data.data_dir = str(Path(config.data.data_dir).expanduser().resolve())
        config.data.dataset = absolute_dataset(config.data.dataset, config.data.data_dir)
        data_path = Path(config.data.dataset)  # absolute where it is a path of the user's
        # A file's or a data folder's (a changed IDX folder resumed on other data without a word)
        if not config.data.dataset.startswith("<in-memory"):  # fit records the arrays' own
            config.data.sha256 = (data_sha256(data_path) if data_path.is_absolute() and data_path.exists()
                                  else None)
    t = config.train
    t.check_for_training(new_run=not resume)  # the config alone: before any data are read
    if t.threads:
        torch.set_num_threads(t.threads)
    share = distributed.image_share(world, t.images_per_noise)
    s = build_session(config, module=module, data=data, trust_code=trust_code or not resume,
                      device=device)
    s.method.check_training(t.noise_batch, t.steps)
    s.target.check_batch_statistics(share.stop - share.start)
    if s.method.probe_size > t.images_per_noise and not resume:
        # The probe is cut from network 0's images: it was silently that many, config.yaml saying
        # the larger number. Recorded as it is used.
        if world.main:  # once, not once per process
            note(f"method.probe_size {s.method.probe_size} is cut to the train.images_per_noise "
                 f"{t.images_per_noise} inputs it is taken from")
        config.method["probe_size"] = s.method.config.probe_size = t.images_per_noise
    check_trainable(s.target.module)
    if not resume:
        config.target.module_class = type(s.target.module).__qualname__
        # Recorded, so the run reopens without its data (sample needs none; a data set of your
        # own may have no test split). The shape the target was built with: another one given
        # (the data's shape builds it) rebuilt it otherwise where the run reopened without data.
        given = config.target.input_shape
        if given and tuple(given) != tuple(s.target.input_shape) and world.main:
            note(f"target.input_shape {list(given)} is not the data's {list(s.target.input_shape)}, "
                 "which the target is built with; recorded as the data's")
        config.target.input_shape = list(s.target.input_shape)
        size = getattr(s.method.config, "dataset_size", None)
        if size is not None and config.method.get("dataset_size") is None:
            # The N a variational bound divides its KL by: recorded, so a resume keeps the bound
            # it trained (recounted from whatever data the resume loaded, it could change unsaid).
            config.method["dataset_size"] = size
    if t.keep_best and s.method.collects_over_run:
        raise ConfigError(f"train.keep_best keeps one validation step's model, but method "
                          f"{config.method_name!r} collects its networks over the whole run (that "
                          "step's model would hold only the snapshots taken by then): leave keep_best off")
    if (s.train_data is not None and s.train_data.task == "classification"
            and s.train_data.y.unique().numel() < 2):
        # Trained, and reported accuracies against one class.
        raise DataError(f"data set {s.train_data.name!r}: its training split holds one class (label "
                        f"{int(s.train_data.y[0])}); a classifier needs examples of two or more")
    if s.train_data is None and (t.keep_best or t.full_batch):
        raise ConfigError("train.keep_best and train.full_batch need a data set; data.dataset is 'none'")
    if s.train_data is not None and t.full_batch and t.images_per_noise != len(s.train_data):
        raise ConfigError(f"train.full_batch needs train.images_per_noise equal to the {len(s.train_data)} "
                          f"training examples of {s.train_data.name!r}, got {t.images_per_noise}")
    # Said once the folder is claimed, when nothing can refuse the run any more: a refused fit
    # noted a data file it then removed.
    pending: list[str] = []
    untested = lacks_test_split(config.data.dataset, config.data.data_dir) if world.main else None
    if untested is not None:  # it trained, then evaluate and report failed: "has no test split"
        pending.append(f"{untested} holds no test split (x_test, y_test; fit's test_data): training "
                       "validates on part of the training examples, but evaluate and report will need one")
    lr_note = type(s.method).LR_NOTE
    if lr_note is not None and t.lr > lr_note[0] and not resume:
        pending.append(f"train.lr {t.lr:g} is above {lr_note[0]:g} for method {config.method_name!r}: "
                       f"{lr_note[1]}")
    if not resume:
        calibrate(config, s, world, device)
    if world.distributed and any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in s.target.module.modules()):
        pending.append(f"under torchrun the target's batch norm normalises each process's "
                       f"{t.images_per_noise // world.size} images of a network, not all "
                       f"{t.images_per_noise}: not the one-process run (as DistributedDataParallel "
                       "without SyncBatchNorm)")
    if not world.main:  # rank 0 checks, locks and writes the folder; the others wait for it
        distributed.follow_main(world)
        return _train_locked(config, s, run_dir, resume, progress, world, device, share, [])
    with ExitStack() as held:
        # Everything that can refuse the folder (the lock too) runs inside `lead`, which tells
        # the other processes whether it succeeded.
        with distributed.lead(world):
            if not resume:  # before the lock file is written into someone's folder
                check_new_run_dir(run_dir, own=own_files)
            run_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(lock_run(run_dir, wait=2.0))
            if not resume:
                # Again, under our lock: another process may have won the race.
                check_new_run_dir(run_dir, locked=True, own=own_files)
            remove_stale_temporaries(run_dir)
            if not resume:
                write_config(run_dir, config)
        for text in pending:  # rank 0 (this branch) alone
            note(text)
        return _train_locked(config, s, run_dir, resume, progress, world, device, share,
                             argv if argv is not None else sys.argv)


# Settings a resume may change without changing what the steps so far learned from: the length
# (the schedule's note covers its rate), bookkeeping, where things run and lie.
_FREE_TO_EDIT = {"train.steps", "train.val_every", "train.val_networks", "train.checkpoint_every",
                 "train.log_every", "train.threads", "train.device", "train.keep_best", "data.data_dir"}


def _config_edits(meta: dict[str, Any], config: Config) -> list[tuple[str, Any, Any]]:
    """(key, checkpoint's value, config.yaml's) for each setting edited in config.yaml since the
    checkpoint was written (one that records its config), bar `_FREE_TO_EDIT`: a λ edited before a
    resume was taken silently, the folder then claiming it for the whole run."""
    if not isinstance(meta.get("config"), dict):
        return []

    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and k != "kwargs"
                       else {f"{prefix}{k}": v})
        return out

    was, now = flat(meta["config"]), flat(json.loads(json.dumps(config.to_dict())))
    # A data set of the user's moved (a path for a path): its SHA-256 still vouches for it. A
    # built-in name changed has none: said.
    moved = config.data.sha256 is not None and was.get("data.sha256") == config.data.sha256
    return [(k, was.get(k), now.get(k)) for k in sorted(was.keys() | now.keys())
            if k not in _FREE_TO_EDIT and was.get(k) != now.get(k) and not (k == "data.dataset" and moved)]


def _rate_change(run_dir: Path, t: TrainConfig, start: int) -> str | None:
    """For a resumed run whose schedule now gives another rate at its last step than it trained
    with (train.steps raised to continue: cosine is laid over the whole run, so its rate jumped
    back up without a word), what to say; else None."""
    rows = [r for r in read_metrics(run_dir) if r.get("step") == start and isinstance(r.get("lr"), float)]
    if not rows:
        return None
    was = rows[-1]["lr"]
    now = t.lr * lr_factor(start - 1, t.steps, t.lr_schedule, t.lr_warmup,  # type: ignore[arg-type]
                           t.lr_min_factor, t.lr_decay_every, t.lr_decay)
    if abs(now - was) <= 1e-6 * max(abs(was), abs(now)):
        return None
    return (f"the schedule now gives step {start} a learning rate of {now:.3g}, where the run trained "
            f"with {was:.3g} (train.steps {t.steps} and the {t.lr_schedule} schedule laid over them); "
            "training goes on from that rate")


def _train_locked(config: Config, s: Session, run_dir: Path, resume: bool, progress: bool,
                  world: distributed.World, device: torch.device, share: slice, argv: list[str]
                  ) -> dict[str, float]:
    t = config.train
    method, data = s.method, s.train_data  # no data: a method that needs none (validation too)
    optimizers = make_optimizers(method, t.optimizer, t.lr, t.momentum, t.fused)
    gens = {"noise": torch.Generator().manual_seed(t.seed + 1),
            "data": torch.Generator().manual_seed(t.seed + 2)}
    meta = checkpoint_meta(run_dir) if resume else None
    lacking = bf16_emulated(device) if t.precision == "bf16" and world.main else None
    if lacking:
        note(f"train.precision bf16 on {lacking}: bfloat16 is emulated there and expected to "
             "be slower than fp32")
    # Each process's own stream for a target's dropout (rank 0's is the session's); the
    # checkpoint's states of this process replace it below.
    distributed.seed_own_draws(world, t.seed + (meta["step"] if meta is not None else 0))
    start = _restore(run_dir, config, meta, method, optimizers, gens, device, world)
    distributed.broadcast_parameters(world, method)
    best_meta = checkpoint_meta(run_dir, BEST) if t.keep_best else None
    if best_meta:  # its score seeds the best below
        check_run_id(run_dir / BEST, best_meta, config.run_id)
    if world.main:
        _record_start(run_dir, config, meta, argv, start, world.size)
    clock = _Clock(meta, start)
    best = _best_so_far(run_dir, best_meta, start)
    stamp = {"run_id": config.run_id} if config.run_id else {}  # a folder from before run ids has none
    written = json.loads(json.dumps(config.to_dict()))  # what the steps trained with (`_config_edits`)
    n, m = t.noise_batch, t.images_per_noise
    last: dict[str, float] = {}
    dead: set[str] = set()  # the ReLU layers the last validation found (nearly) silent
    method.train()
    loss_of = torch.compile(method.training_loss) if t.compile else method.training_loss
    bar = progress_bar(range(start, t.steps), initial=start, total=t.steps, show=progress and world.main,
                       desc="train", dynamic_ncols=True)
    # Steps whose logged scalars and finiteness checks are still on the device, read every
    # train.log_every steps and before any validation or checkpoint (a bad step is never saved).
    pending: list[Pending] = []
    with open_own(run_dir / "metrics.jsonl", "a") if world.main else nullcontext() as log:
        for step in bar:
            lr = t.lr * lr_factor(step, t.steps, t.lr_schedule, t.lr_warmup,  # type: ignore[arg-type]
                                  t.lr_min_factor, t.lr_decay_every, t.lr_decay)
            for optimizer in optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr
            batch = training_batch(data, n, m, config, gens["data"], share, device, method.probe_size)
            with method.target.lower_precision(torch.bfloat16 if t.precision == "bf16" else None):
                out = batch_loss(loss_of, batch, step, gens["noise"])
            checks = step_optimizers(method, optimizers, out, world, sync=False)
            assert isinstance(checks, list)
            done = step + 1
            pending.append((done, lr, list(out), torch.stack([v.detach().float() for v in out.values()]),
                            [c for c, _ in checks], torch.stack([ok for _, ok in checks])))
            validating = (done % t.val_every == 0 or done == t.steps) and s.val_data is not None
            saving = done % t.checkpoint_every == 0 or done == t.steps
            if not (validating or saving or done % t.log_every == 0):
                continue
            (rows, bad), pending = read_rows(pending, world), []
            if bad is not None:
                if world.main:  # the rows before the bad step
                    log.write("".join(json.dumps(r) + "\n" for r in rows if r["step"] < bad[0]))
                kept = checkpoint_step(run_dir)
                raise TrainingDiverged(
                    f"{bad[1]} at step {bad[0]}; kept the last good checkpoint "
                    f"({'step ' + str(kept) if kept is not None else 'none yet'}) in {run_dir}; "
                    "try a lower train.lr")
            row = rows[-1]
            if validating and world.main:
                val, score, dead = _validate(s, config, done, dead)
                row.update(val)
                if t.keep_best and (best is None or score > best):
                    best = score
                    save_checkpoint(run_dir, method, {}, done, {}, name=BEST,
                                    extra={"val_score": best, **clock.timing(), **stamp})
            last = row
            process_rng = distributed.global_rng_states(world, device) if saving else {}
            if not world.main:
                continue
            log.write("".join(json.dumps(r) + "\n" for r in rows))
            log.flush()
            if saving:  # on disk before the checkpoint: a crash of the machine left it behind
                os.fsync(log.fileno())
            shown = {"loss": "loss", "acc": "accuracy", "mse": "mse", "H": "entropy",
                     "val": "val_mean_accuracy", "val_rmse": "val_mean_rmse"}
            # Drawn with the bar's next update, not now: into a log file that is once a minute
            # (redrawn here, every log_every steps, it wrote a line showing a stale step count).
            bar.set_postfix({k: f"{row[key]:.4g}" for k, key in shown.items() if key in row}, refresh=False)
            if saving:
                save_checkpoint(run_dir, method, optimizers, done, gens, global_rng=True,
                                process_rng=process_rng, extra={**clock.timing(), "processes": world.size,
                                                                **stamp, "config": written})
    bar.close()
    return last


def _restore(run_dir: Path, config: Config, meta: dict[str, Any] | None, method: Method,
             optimizers: dict[str, torch.optim.Optimizer], gens: dict[str, torch.Generator],
             device: torch.device, world: distributed.World) -> int:
    """The step training goes on from: 0 for a new run (or one that stopped before its first
    checkpoint, ``meta`` None: it starts again, seeded as before), else the checkpoint's, with
    the method, optimizers, generators and this process's global RNG restored from it."""
    if meta is None:
        return 0
    t = config.train
    said = resume_note(meta, device, world.size)
    if said and world.main:
        print(said, file=sys.stderr)
    # The global RNG (a target's dropout draws from it) is the trainer's: restored too, each
    # process its own.
    start = load_checkpoint(run_dir, method, optimizers, gens, max_step=t.steps, global_rng=True,
                            rank=world.rank, run_id=config.run_id)
    if start >= t.steps:
        raise RunError(f"{run_dir} already finished its {t.steps} steps; raise train.steps "
                       "in config.yaml to continue")
    return start


def _record_start(run_dir: Path, config: Config, meta: dict[str, Any] | None, argv: list[str],
                  start: int, processes: int) -> None:
    """What rank 0 records once the run is known to go on (a refused resume, finished or with a
    checkpoint that does not fit, leaves command.txt as it was): config.yaml's edits since the
    checkpoint, a changed learning rate, the command (with its torchrun ``processes``: a target's
    batch norm and dropout depend on them), metrics.jsonl cut back to ``start``."""
    edits = _config_edits(meta, config) if meta is not None else []
    if edits:
        assert meta is not None
        said = (f"config.yaml changed since the checkpoint of step {meta['step']}: "
                + ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in edits))
        note(f"{said}; its steps trained with the earlier values (command.txt records the change)")
        append_comment(run_dir, said)
    was = (meta or {}).get("config", {}).get("train", {}).get("steps")
    if isinstance(was, int) and was != config.train.steps:  # free to edit, but the folder says so
        append_comment(run_dir, f"train.steps {was} -> {config.train.steps} in config.yaml")
    rate = _rate_change(run_dir, config.train, start) if start > 0 else None
    if rate:
        note(rate)
        append_comment(run_dir, rate)
    if processes > 1:
        append_comment(run_dir, f"under torchrun, {processes} processes:")
    append_command(run_dir, argv)
    truncate_metrics(run_dir, start)


class _Clock:
    """Training wall time, carried through resumes in the checkpoint. A checkpoint written
    before it was recorded leaves the time of its steps unknown: the count then starts at its
    step."""

    def __init__(self, meta: dict[str, Any] | None, start: int) -> None:
        self.before, self.timed_from = 0.0, 0
        if start > 0 and meta is not None:
            self.before = meta.get("train_seconds", 0.0)
            self.timed_from = meta.get("train_seconds_from_step", 0) if "train_seconds" in meta else start
        self.started = time.perf_counter()

    def timing(self) -> dict[str, float]:
        """Recorded in each checkpoint, the best model's too."""
        return {"train_seconds": round(self.before + time.perf_counter() - self.started, 3),
                "train_seconds_from_step": self.timed_from}


def _best_so_far(run_dir: Path, best_meta: dict[str, Any] | None, start: int) -> float | None:
    """The best validation score so far (None: none, or ``train.keep_best`` off). A best model
    saved after the checkpoint we resume from is from steps about to be redone (identically);
    until they are, the file keeps it unless a model beats the best score logged up to that
    checkpoint (a second stop in between must not leave it holding a model worse than one
    already validated)."""
    if not best_meta:
        return None
    if best_meta["step"] <= start:
        return validation_score_of(best_meta)
    logged = [validation_score({k[len("val_"):]: v for k, v in r.items() if k.startswith("val_")})
              for r in read_metrics(run_dir) if r.get("step", 0) <= start and any(
                  k in r for k in ("val_mean_accuracy", "val_mean_rmse"))]
    return max(logged, default=None)


def _validate(s: Session, config: Config, done: int, dead: set[str]
              ) -> tuple[dict[str, float], float, set[str]]:
    """The validation row of step ``done`` (``val_`` metrics and each ReLU layer's activity), its
    `validation_score`, and the layers now (nearly) silent, said on stderr where they differ from
    ``dead``, the last validation's."""
    assert s.val_data is not None
    t = config.train
    val, active, after = validate(s.method, s.val_data, t.val_networks, t.seed + 3,
                                  statistics_images(s, VALIDATION_BN_EXAMPLES), config.data.bn_batch)
    row = {f"val_{k}": v for k, v in val.items() if k != "n_networks"}
    row.update({f"val_active.{name}": share for name, share in active.items()})
    silent = {name: share for name, share in active.items() if share < SILENT_BELOW}
    if silent.keys() != dead:
        tqdm.write(dead_layer_message(done, silent, dead, int(val["n_networks"]), after), file=sys.stderr)
    return row, validation_score(val), set(silent)

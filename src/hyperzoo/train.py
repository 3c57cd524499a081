"""The training loop: any `Method`, one protocol, a run folder that can be resumed exactly."""

from __future__ import annotations

import json
import math
import sys
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm.auto import tqdm

from hyperzoo import distributed
from hyperzoo.config import Config, ConfigError
from hyperzoo.data import Dataset, absolute_dataset
from hyperzoo.data.augment import augment
from hyperzoo.devices import cuda_rng_states, resolve_device, set_cuda_rng_states
from hyperzoo.evaluation import ensemble_metrics, predict_proba
from hyperzoo.methods import Method
from hyperzoo.runs import (
    BEST,
    RunError,
    append_command,
    checkpoint_meta,
    checkpoint_step,
    load_checkpoint,
    read_config,
    save_checkpoint,
    truncate_metrics,
    write_config,
)
from hyperzoo.schedules import lr_factor
from hyperzoo.session import build_session, statistics_images
from hyperzoo.targets import estimate_bn_statistics


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run folder keeps its last good checkpoint."""


# Training images for the batch-norm statistics of the networks validated during training
# (at most; data.bn_examples may ask for fewer): a full pass at every validation would cost
# more than the validation itself.
VALIDATION_BN_EXAMPLES = 1024


@torch.no_grad()
def validate(method: Method, data: Dataset, n_networks: int, seed: int,
             statistics_x: torch.Tensor | None = None, bn_batch: int = 256) -> dict[str, float]:
    """Accuracy of ``n_networks`` networks drawn from a fixed noise seed (comparable across steps);
    a batch-norm target's networks get running statistics from ``statistics_x``."""
    was_training = method.training
    method.eval()
    weights = method.sample(n_networks, generator=torch.Generator().manual_seed(seed))
    if method.target.has_statistics:
        if statistics_x is None:
            raise ValueError("validating a batch-norm target needs training images for its statistics")
        weights = estimate_bn_statistics(method.target, weights, statistics_x, bn_batch)
    metrics = ensemble_metrics(predict_proba(method.target, weights, data.x), data.y)
    method.train(was_training)
    return metrics


def step_optimizers(method: Method, optimizers: dict[str, torch.optim.Optimizer],
                    out: dict[str, torch.Tensor], world: distributed.World | None = None) -> None:
    """One backward and step per optimizer group: ``"model"`` on ``out["loss"]``, group ``g`` on
    ``out["loss_g"]``. The model's loss may pass through another group's parameters (a
    discriminator), whose gradients from it are discarded by the next ``zero_grad``. Under
    torchrun each group's gradients are averaged over the processes before its step."""
    for name, optimizer in optimizers.items():
        method.zero_grad(set_to_none=True)
        out["loss" if name == "model" else f"loss_{name}"].backward()
        if world is not None:
            distributed.average_gradients(world, [p for g in optimizer.param_groups for p in g["params"]])
        optimizer.step()


def read_rows(pending: list[tuple[int, float, list[str], torch.Tensor]], world: distributed.World
              ) -> list[dict[str, float]]:
    """Metrics rows of the steps in ``pending`` (step, lr, keys, scalars on the device): one
    transfer to the host for all of them (and one all-reduce averaging the processes' shares)."""
    flat = distributed.average(world, torch.cat([v for *_, v in pending])).cpu().tolist()
    rows, i = [], 0
    for done, lr, keys, _ in pending:
        values = flat[i:i + len(keys)]
        rows.append({"step": done, "lr": lr, **{k: round(v, 6) for k, v in zip(keys, values, strict=True)}})
        i += len(keys)
    return rows


def training_batch(data: Dataset, n: int, m: int, config: Config, generator: torch.Generator,
                   share: slice = slice(None), device: torch.device | str = "cpu"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's images (N, M_share, ...) and labels (N, M_share) on ``device``: M different
    images for each of N networks, drawn (and augmented) on the CPU from ``generator``, of
    which this process keeps its ``share`` of every network's M (all of them in one process)."""
    idx = torch.randint(len(data), (n * m,), generator=generator)
    # Augmentation draws from the data generator, which the checkpoint keeps.
    x = augment(data.x[idx], config.data.augment, config.data.pad, generator)
    x = x.reshape(n, m, *data.input_shape)[:, share].to(device, non_blocking=True)
    return x, data.y[idx].reshape(n, m)[:, share].to(device, non_blocking=True)


def train(config: Config, run_dir: str | Path, resume: bool = False, argv: list[str] | None = None,
          progress: bool = True, module: torch.nn.Module | None = None,
          data: tuple[Dataset, Dataset] | None = None) -> dict[str, float]:
    """Train ``config`` into ``run_dir`` (or continue it with ``resume``); returns last metrics.

    ``module`` (the target) and ``data`` (train, validation) given in memory replace building
    them from ``config`` (the Python API, ``hyperzoo.fit``).

    Started by ``torchrun`` with several processes, every process trains its share of the same
    global batch (`hyperzoo.distributed`) and rank 0 alone writes ``run_dir``."""
    config = read_config(Path(run_dir)) if resume else config
    world, device = distributed.init(resolve_device(config.train.device))
    try:
        return _train(config, Path(run_dir), resume, argv, progress, module, data, world, device)
    finally:
        distributed.shutdown(world)


def _train(config: Config, run_dir: Path, resume: bool, argv: list[str] | None, progress: bool,
           module: torch.nn.Module | None, data: tuple[Dataset, Dataset] | None,
           world: distributed.World, device: torch.device) -> dict[str, float]:
    if not resume and checkpoint_step(run_dir) is not None:
        raise RunError(f"{run_dir} already holds a trained run; use --resume or another --out")
    t = config.train
    if t.precision not in ("fp32", "bf16"):
        raise ConfigError(f"train.precision {t.precision!r} is not one of 'fp32', 'bf16'")
    if t.log_every < 1:
        raise ConfigError(f"train.log_every must be at least 1, got {t.log_every}")
    share = distributed.image_share(world, t.images_per_noise)
    if world.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            if config.data.data_dir:
                # Absolute, so evaluate/report/resume work from any working directory.
                config.data.data_dir = str(Path(config.data.data_dir).expanduser().resolve())
            config.data.dataset = absolute_dataset(config.data.dataset, config.data.data_dir)
            write_config(run_dir, config)
        append_command(run_dir, argv if argv is not None else sys.argv)
    if t.threads:
        torch.set_num_threads(t.threads)
    s = build_session(config, module=module, data=data, device=device)
    method, data = s.method, s.train_data
    assert data is not None and s.val_data is not None
    optimizers = {g: torch.optim.Adam(params, lr=t.lr)
                  for g, params in method.optimizer_groups().items()}
    gens = {"noise": torch.Generator().manual_seed(t.seed + 1),
            "data": torch.Generator().manual_seed(t.seed + 2)}
    start = 0
    if resume:
        states: dict[str, torch.Tensor] = {}
        start = load_checkpoint(run_dir, method, optimizers, gens, states=states)
        set_cuda_rng_states(states)
        if start >= t.steps:
            raise RunError(f"{run_dir} already finished its {t.steps} steps; raise train.steps "
                           "in config.yaml to continue")
    distributed.broadcast_parameters(world, method)
    if world.main:
        truncate_metrics(run_dir, start)
    # The best validation accuracy so far; a best model saved after the checkpoint we resume
    # from is from steps about to be redone (identically), so it does not count.
    best_meta = checkpoint_meta(run_dir, BEST) if t.keep_best else None
    best = best_meta["val_mean_accuracy"] if best_meta and best_meta["step"] <= start else None
    n, m = t.noise_batch, t.images_per_noise
    last: dict[str, float] = {}
    method.train()
    loss_of = torch.compile(method.training_loss) if t.compile else method.training_loss
    bar = tqdm(range(start, t.steps), initial=start, total=t.steps, disable=not (progress and world.main),
               desc="train", dynamic_ncols=True)
    # Steps whose logged scalars are still on the device: (step, lr, keys, values).
    pending: list[tuple[int, float, list[str], torch.Tensor]] = []
    with open(run_dir / "metrics.jsonl", "a") if world.main else nullcontext() as log:
        for step in bar:
            lr = t.lr * lr_factor(step, t.steps, t.lr_schedule, t.lr_warmup,  # type: ignore[arg-type]
                                  t.lr_min_factor, t.lr_decay_every, t.lr_decay)
            for optimizer in optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr
            x, y = training_batch(data, n, m, config, gens["data"], share, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16"):
                out = loss_of(x, y, step, generator=gens["noise"])
            step_optimizers(method, optimizers, out, world)
            done = step + 1
            pending.append((done, lr, list(out), torch.stack([v.detach().float() for v in out.values()])))
            validating = done % t.val_every == 0 or done == t.steps
            saving = done % t.checkpoint_every == 0 or done == t.steps
            if not (validating or saving or done % t.log_every == 0):
                continue
            # Read before validating or saving: a diverged step must not be saved.
            rows, pending = read_rows(pending, world), []
            bad = next((r for r in rows if not math.isfinite(r["loss"])), None)
            if bad is not None:
                if world.main:
                    log.write("".join(json.dumps(r) + "\n" for r in rows[:rows.index(bad)]))
                kept = checkpoint_step(run_dir)
                raise TrainingDiverged(
                    f"loss became {bad['loss']} at step {bad['step'] - 1}; kept the last good checkpoint "
                    f"({'step ' + str(kept) if kept is not None else 'none yet'}) in {run_dir}; "
                    "try a lower train.lr")
            row = rows[-1]
            if validating and world.main:
                val = validate(method, s.val_data, t.val_networks, t.seed + 3,
                               statistics_images(s, VALIDATION_BN_EXAMPLES), config.data.bn_batch)
                row.update({f"val_{k}": v for k, v in val.items() if k != "n_networks"})
                if t.keep_best and (best is None or val["mean_accuracy"] > best):
                    best = val["mean_accuracy"]
                    save_checkpoint(run_dir, method, {}, done, {}, name=BEST,
                                    extra={"val_mean_accuracy": best})
            last = row
            if not world.main:
                continue
            log.write("".join(json.dumps(r) + "\n" for r in rows))
            log.flush()
            shown = {"loss": "loss", "acc": "accuracy", "mse": "mse", "H": "entropy",
                     "val": "val_mean_accuracy"}
            bar.set_postfix({k: f"{row[key]:.4g}" for k, key in shown.items() if key in row})
            if saving:
                save_checkpoint(run_dir, method, optimizers, done, gens, states=cuda_rng_states())
    bar.close()
    return last

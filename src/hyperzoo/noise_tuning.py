"""Tune the noise scale σ of a trained ``gaussian_noise`` run on held-out data.

For every σ of a grid, ``networks`` networks are sampled from one noise seed (the same standard
normal draws for every σ, only scaled: common random numbers, so the grid points differ by σ
alone) and the NLL of their mean-probability ensemble is measured on the validation split. The
σ of least NLL (the smallest σ on a tie) is written into the run's checkpoint as the method's
``sigma`` buffer, through the trainer's own save path, so evaluate, sample, report and ood use
it, and into config.yaml's ``method.sigma``; every grid point's numbers go to
RUN_DIR/noise_scale.json (a record, not read back).
Tuning again after more training is up to the user: resuming keeps the tuned σ.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hyperzoo.config import ConfigError
from hyperzoo.devices import GLOBAL_RNG
from hyperzoo.evaluation import ensemble_metrics, predict_proba
from hyperzoo.methods import GaussianNoise
from hyperzoo.notes import note
from hyperzoo.optimizers import make_optimizers
from hyperzoo.runs import (
    BEST,
    CHECKPOINT,
    RunError,
    checkpoint_meta,
    load_checkpoint,
    lock_run,
    read_checkpoint,
    read_config,
    save_checkpoint,
    write_config,
)
from hyperzoo.session import (
    Session,
    leaves_global_state,
    limit_dataset,
    load_run,
    load_split,
    sample_networks,
)
from hyperzoo.weights import atomic_write_json

# Relative scales (σ · RMS of each tensor); 0 is there so that "no noise" can win.
DEFAULT_SIGMAS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
RECORD = "noise_scale.json"
# Metadata that `save_checkpoint` writes itself; anything else (e.g. the best model's validation
# accuracy) is carried over.
_OWN_META = ("format", "step", "optimizers", "generators", "threads", "sha256")


def parse_sigmas(text: str) -> list[float]:
    """``"0.01,0.02"`` → [0.01, 0.02]; a `ConfigError` naming the value otherwise."""
    try:
        sigmas = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--sigmas {text!r} must be comma-separated numbers") from None
    return check_sigmas(sigmas)


def check_sigmas(sigmas: Sequence[float]) -> list[float]:
    if not sigmas:
        raise ConfigError("the σ grid is empty; give at least one value, e.g. --sigmas 0.01,0.05")
    bad = [s for s in sigmas if not (math.isfinite(s) and s >= 0)]
    if bad:
        raise ConfigError(f"σ = {bad[0]!r} is not a non-negative number")
    return sorted(set(float(s) for s in sigmas))


def save_sigma(run_dir: Path, session: Session, sigma: float, name: str = CHECKPOINT) -> None:
    """Write ``sigma`` into the run's checkpoint file ``name``, keeping the rest of it as it was:
    the file is loaded into ``session``'s method and the optimizers and generators the trainer
    builds, and saved by `save_checkpoint` (a new content hash), with the global RNG states
    (every training process's) and the thread count it recorded. Call it holding the run's lock."""
    meta = checkpoint_meta(run_dir, name)
    assert meta is not None
    method, t = session.method, session.config.train
    optimizers = (make_optimizers(method, t.optimizer, t.lr, t.momentum, t.fused) if meta.get("optimizers")
                  else {})
    gens = {g: torch.Generator() for g in meta.get("generators", [])}
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    try:
        # The saved global RNG passes through torch's own, restored afterwards.
        tensors = read_checkpoint(Path(run_dir) / name)[1]
        has_global = f"rng.{GLOBAL_RNG}" in tensors
        # The GPUs' and the other training processes' generators, as they were (this process
        # may have no GPU, or not the trainer's, and is one process).
        others = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith(("rng.rank", "rng.cuda"))}
        step = load_checkpoint(run_dir, method, optimizers, gens, name=name, global_rng=has_global,
                               run_id=session.config.run_id)
        method.sigma.fill_(sigma)
        torch.set_num_threads(meta.get("threads") or threads)
        # (A checkpoint from before CPUs were recorded stays without one: None, not ours.)
        kept = {"machine": None, "torch": None, **{k: v for k, v in meta.items() if k not in _OWN_META}}
        if isinstance(kept.get("config"), dict) and isinstance(kept["config"].get("method"), dict):
            # The config the checkpoint records as trained with says σ as config.yaml now does
            # (`_tune`): a resume would note config.yaml's σ as an edit otherwise.
            kept["config"] = {**kept["config"], "method": {**kept["config"]["method"], "sigma": sigma}}
        save_checkpoint(run_dir, method, optimizers, step, gens, name=name, global_rng=has_global,
                        process_rng=others, extra=kept)
    finally:
        torch.set_rng_state(rng)
        torch.set_num_threads(threads)


@leaves_global_state
def tune_noise_scale(run_dir: str | Path, sigmas: Sequence[float] = DEFAULT_SIGMAS, networks: int = 10,
                     split: str | None = None, data_dir: str | None = None, limit: int | None = None,
                     seed: int = 0, trust_code: bool = False, session: Session | None = None
                     ) -> dict[str, Any]:
    """Pick σ of least ensemble NLL on the held-out validation split (``split``: "val" or None)
    with ``networks`` sampled networks, write it into the run (under its lock: not while it
    trains), and return the record. ``trust_code`` as for `load_run`; ``session``: the run,
    already reopened (`hyperzoo.Run.tune_noise`: a module that lived in memory), which keeps σ."""
    sigmas = check_sigmas(sigmas)
    if networks < 1:
        raise ConfigError(f"--networks must be at least 1, got {networks}")
    if split not in (None, "val"):
        # Accepted: σ was chosen on the examples evaluate scores (test) or the network trained
        # on (train), and the report called it validation.
        raise ConfigError(f"--split {split!r}: tune-noise chooses σ on held-out validation examples "
                          "('val'), not on those evaluate scores or the network trained on")
    run_dir = Path(run_dir)
    read_config(run_dir)  # a folder that is not a run is refused before a lock file is made in it
    # Held from the start: a run in training is refused before the work, not after it, and
    # nothing changes the checkpoints between reading them and writing σ into them.
    with lock_run(run_dir):
        return _tune(run_dir, sigmas, networks, split, data_dir, limit, seed, trust_code, session)


def _tune(run_dir: Path, sigmas: list[float], networks: int, split: str | None, data_dir: str | None,
          limit: int | None, seed: int, trust_code: bool, session: Session | None) -> dict[str, Any]:
    session = session or load_run(run_dir, data_dir, trust_code=trust_code)
    method = session.method
    if not isinstance(method, GaussianNoise):
        raise RunError(f"{run_dir} was trained with method {session.config.method_name!r}; "
                       "tuning the noise scale needs method 'gaussian_noise'")
    d = session.config.data
    split = "val"  # whatever data.val_split says (a run may validate on test)
    data = limit_dataset(load_split(d, split, task=method.task), limit)
    start = time.perf_counter()
    rows = []
    with torch.no_grad():
        for sigma in sigmas:
            method.sigma.fill_(sigma)
            # A batch-norm target's networks get their own running statistics, as in evaluate.
            weights = sample_networks(session, networks, seed)
            m = ensemble_metrics(predict_proba(session.target, weights, data.x), data.y)
            rows.append({"sigma": sigma, **{k: m[k] for k in ("ensemble_nll", "ensemble_accuracy",
                                                              "mean_accuracy")}})
    finite = [r for r in rows if math.isfinite(r["ensemble_nll"])]
    if not finite:
        raise RunError(f"run {run_dir}: the ensemble NLL is not finite at any σ of {sigmas} (a diverged "
                       "network?); nothing to choose from")
    # A NaN NLL (a σ whose networks diverge) is no candidate: min took it where it came first.
    best = min(finite, key=lambda r: (r["ensemble_nll"], r["sigma"]))["sigma"]
    positive = [r for r in finite if r["sigma"] > 0]
    if best == 0 and positive:
        # The baseline then draws N copies of one network: disagreement 0, entropy -inf.
        zero = next(r for r in finite if r["sigma"] == 0)
        runner_up = min(positive, key=lambda r: r["ensemble_nll"])
        note(f"σ = 0 was best on the validation split (ensemble NLL {zero['ensemble_nll']:.5f} against "
             f"{runner_up['ensemble_nll']:.5f} at σ = {runner_up['sigma']:g}): every network the run samples "
             "is now the same one, an ensemble of copies; to compare an ensemble, tune over positive σ "
             "only (--sigmas)")
    # Into every checkpoint the run has: evaluate reads the best model's (train.keep_best), a
    # resume continues from the last one, and its later best models must keep σ too.
    for name in (BEST, CHECKPOINT):
        if (Path(run_dir) / name).is_file():
            save_sigma(run_dir, session, best, name)
    config = read_config(run_dir)
    if config.method.get("sigma") != best:
        # config.yaml kept the σ the run was started with, beside a checkpoint sampling another.
        config.method["sigma"] = best
        write_config(run_dir, config)
    record = {"sigma": best, "criterion": "ensemble NLL (mean probability), least", "grid": rows,
              "networks": networks, "dataset": data.name, "split": split, "n_examples": len(data),
              "seed": seed, "checkpoint": session.checkpoint, "checkpoint_step": session.checkpoint_step,
              "seconds": round(time.perf_counter() - start, 3)}
    atomic_write_json(run_dir / RECORD, record)
    return record

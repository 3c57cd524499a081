"""The 1-D regression toy of seed 002 §4.3: HyperGAN on 20 noisy points of y = x³.

Twenty points x ~ U[−4, 4], y = x³ + ε with ε ~ N(0, 3²) (the built-in ``cubic`` data set); the
target is one hidden layer of 100 ReLU units; HyperGAN with latent dimension 64 and the
regression loss (the MSE relative to the targets' variance, so that β keeps its weight). The
run goes through the common trainer (a run folder like any other: config, checkpoints,
``--resume``, ``evaluate``), then the regression report draws the predictive mean ± 3 std of 10,
100 and 1000 sampled networks over [−6, 6]: where there is no data, they should disagree.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from hyperzoo.config import Config, ConfigError, from_dict
from hyperzoo.data import load_dataset
from hyperzoo.data.cubic import X_RANGE
from hyperzoo.report import regression_report
from hyperzoo.session import load_run
from hyperzoo.train import train_or_continue

# The seed's setting, also in experiments/toy_regression.yaml (a test keeps them equal).
CONFIG: dict[str, Any] = {
    # 4³/√7: the std of x³ for x ~ U[−4, 4], so networks start at the targets' scale.
    "target": {"name": "regression_mlp",
               "kwargs": {"hidden": 100, "output_scale": round(X_RANGE**3 / 7**0.5, 4)}},
    "data": {"dataset": "cubic"},
    "method": {"name": "hypergan", "task": "regression", "z_dim": 64, "code_size": 64,
               "mixer_hidden": [256, 256], "generator_hidden": [256, 256],
               "discriminator_hidden": [256, 256], "beta": 1.0, "code_share": 0.3, "pretrain_steps": 0},
    "train": {"steps": 1500, "noise_batch": 32, "images_per_noise": 20, "full_batch": True,
              "lr": 3e-4, "lr_schedule": "constant", "seed": 0, "val_every": 250, "val_networks": 100,
              "checkpoint_every": 500},
}


def toy_regression_config(steps: int = 1500, seed: int = 0, threads: int | None = None) -> Config:
    """The seed's setting as a `Config`, with ``steps``, ``seed`` and ``threads`` (None: torch's)."""
    data = copy.deepcopy(CONFIG)
    data["train"].update(steps=steps, seed=seed, val_every=min(250, steps),
                         checkpoint_every=min(500, steps), threads=threads)
    return from_dict(Config, data)


def run_toy_regression(out: str | Path, steps: int = 1500, seed: int = 0, networks: int = 1000,
                       progress: bool = True, argv: list[str] | None = None,
                       threads: int | None = None) -> dict[str, Any]:
    """Train into the new run folder ``out`` (or finish the interrupted run there), then write its
    regression report (report.json, report.md, regression.png) there; returns the report."""
    if networks < 2:  # checked again by the report; here before any training
        raise ConfigError(f"--networks must be at least 2 for a predictive spread, got {networks}")
    start = time.perf_counter()
    train_or_continue(toy_regression_config(steps, seed, threads), out, "hyperzoo toy-regression", argv=argv,
                      progress=progress)
    session = load_run(out)
    test = load_dataset(session.config.data.dataset, "test")
    return regression_report(out, session, test, Path(out), networks, seed + 2, start)

"""Build everything a config describes, or reopen a trained run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from hyperzoo.config import Config
from hyperzoo.data import Dataset, load_dataset
from hyperzoo.methods import Method, build_method
from hyperzoo.runs import BEST, CHECKPOINT, load_checkpoint, read_config
from hyperzoo.targets import TargetNet, build_target


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


def limit_dataset(data: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` examples of ``data`` (all of them when ``limit`` is None or 0)."""
    if not limit or limit >= len(data):
        return data
    return Dataset(data.x[:limit], data.y[:limit], data.name, data.split, data.num_classes)


def build_session(config: Config, with_data: bool = True, trust_code: bool = True) -> Session:
    """Seed, then build data, target and method (the seed makes initialisation repeatable).

    ``trust_code=False`` refuses a target given by import path (a config read from a run
    folder is data, not code)."""
    torch.manual_seed(config.train.seed)
    d = config.data
    train_data = val_data = None
    if with_data:
        train_data = load_dataset(d.dataset, "train", d.data_dir)
        val_data = limit_dataset(load_dataset(d.dataset, d.val_split, d.data_dir), d.val_limit)
        shape = train_data.input_shape
    else:
        shape = load_dataset(d.dataset, "test", d.data_dir).input_shape
    module = build_target(config.target.name, config.target.kwargs, trust_code=trust_code)
    target = TargetNet(module, shape, backend=config.target.backend)  # type: ignore[arg-type]
    return Session(config, target, build_method(target, config.method), train_data, val_data)


def load_run(run_dir: str | Path, data_dir: str | None = None, checkpoint: str | None = None,
             trust_code: bool = False) -> Session:
    """Reopen a trained run (method in eval mode); ``data_dir`` overrides the saved one.

    ``checkpoint`` names the file; by default the best-validation model (``best.safetensors``,
    early stopping) where the run kept one, else the last checkpoint. The checkpoint is
    verified (content hash, metadata, finite values). ``trust_code`` allows a target given by
    import path in the folder's config.yaml (importing it runs its code)."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if data_dir is not None:
        config.data.data_dir = data_dir
    session = build_session(config, with_data=False, trust_code=trust_code)
    name = checkpoint or (BEST if (run_dir / BEST).is_file() else CHECKPOINT)
    session.checkpoint_step = load_checkpoint(run_dir, session.method, name=name,
                                              max_step=config.train.steps)
    session.checkpoint = name
    session.method.eval()
    return session

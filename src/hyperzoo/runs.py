"""Run folders and checkpoints (safetensors + JSON metadata, written atomically).

A run folder holds ``config.yaml`` (resolved), ``command.txt`` (every command that touched
it), ``metrics.jsonl`` (one JSON object per logged step), ``checkpoint.safetensors`` (the last
state, to resume from) and, with ``train.keep_best``, ``best.safetensors`` (the model of the best
validation accuracy so far: early stopping).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import safe_open

from hyperzoo.config import Config, load_config
from hyperzoo.weights import atomic_write_text, save_tensors

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
FORMAT = 2


class RunError(ValueError):
    """A run folder that is missing, incomplete, or already used."""


def write_config(run_dir: Path, config: Config) -> None:
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


def read_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise RunError(f"{run_dir} is not a hyperzoo run folder: {path.name} is missing")
    return load_config(path)


def append_command(run_dir: Path, argv: list[str]) -> None:
    with open(Path(run_dir) / "command.txt", "a") as f:
        f.write(" ".join(argv) + "\n")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Logged rows; a torn last line (crash while appending) is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def truncate_metrics(run_dir: Path, last_step: int) -> None:
    """Keep only rows up to ``last_step``, the checkpoint a resumed run continues from."""
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= last_step]
    atomic_write_text(Path(run_dir) / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def save_checkpoint(run_dir: Path, model: torch.nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer], step: int,
                    generators: dict[str, torch.Generator], name: str = CHECKPOINT,
                    extra: dict[str, Any] | None = None,
                    states: dict[str, torch.Tensor] | None = None) -> None:
    """Everything needed to continue bit-for-bit: model, optimizers, RNG states, step.

    ``name`` and ``extra`` (more JSON metadata) serve the best-model file, which holds the
    model alone (no optimizers or generators). ``states`` are more RNG states (the CUDA
    generators'), saved as ``state.<key>``. Every tensor is saved as a CPU tensor."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_meta: dict[str, Any] = {}
    for group, optimizer in optimizers.items():
        opt = optimizer.state_dict()
        state_meta: dict[str, dict[str, Any]] = {}
        for idx, entries in opt["state"].items():
            for key, value in entries.items():
                if torch.is_tensor(value):
                    tensors[f"optim.{group}.{idx}.{key}"] = value
                else:
                    state_meta.setdefault(str(idx), {})[key] = value
        optim_meta[group] = {"param_groups": opt["param_groups"], "state": state_meta}
    for key, gen in generators.items():
        tensors[f"rng.{key}"] = gen.get_state()
    for key, value in (states or {}).items():
        tensors[f"state.{key}"] = value
    meta = {**(extra or {}), "format": FORMAT, "step": step, "optimizers": optim_meta,
            "generators": sorted(generators)}
    save_tensors(Path(run_dir) / name, tensors, {"hyperzoo": json.dumps(meta)})


def checkpoint_meta(run_dir: Path, name: str = CHECKPOINT) -> dict[str, Any] | None:
    """The JSON metadata of a checkpoint file (step, …), or None if there is none."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["hyperzoo"])


def checkpoint_step(run_dir: Path) -> int | None:
    meta = checkpoint_meta(run_dir)
    return None if meta is None else meta["step"]


def load_checkpoint(run_dir: Path, model: torch.nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    generators: dict[str, torch.Generator] | None = None,
                    name: str = CHECKPOINT, states: dict[str, torch.Tensor] | None = None) -> int:
    """Restore what `save_checkpoint` wrote; returns the step to continue from. The CPU tensors
    load onto the model's and optimizers' devices; ``states`` receives the saved RNG states."""
    path = Path(run_dir) / name
    if not path.is_file():
        raise RunError(f"{run_dir} has no {name}; train it first")
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["hyperzoo"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    # Format 1 (one optimizer) still gives its model; resuming needs the current format.
    readable = (1, FORMAT) if not optimizers else (FORMAT,)
    if meta.get("format") not in readable:
        raise RunError(f"{path}: checkpoint format {meta.get('format')!r}, expected "
                       f"{' or '.join(map(str, readable))}")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for group, optimizer in (optimizers or {}).items():
        saved = meta["optimizers"][group]
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith(f"optim.{group}."):
                idx, name = key[len(f"optim.{group}."):].split(".", 1)
                state.setdefault(int(idx), {})[name] = value
        for idx, entries in saved["state"].items():
            state.setdefault(int(idx), {}).update(entries)
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    for name, gen in (generators or {}).items():
        gen.set_state(tensors[f"rng.{name}"])
    if states is not None:
        states.update({k[6:]: v for k, v in tensors.items() if k.startswith("state.")})
    return meta["step"]

"""`hyperzoo verify`: check a run folder's integrity without changing it."""

from __future__ import annotations

from pathlib import Path

import torch

from hyperzoo.errors import UserError
from hyperzoo.methods import resolve_method_config
from hyperzoo.optimizers import make_optimizers
from hyperzoo.runs import (
    BEST,
    CHECKPOINT,
    FORMAT,
    TRAINER_FILES,
    check_run_id,
    checkpoint_meta,
    load_checkpoint,
    read_checkpoint,
    read_config,
)
from hyperzoo.session import build_session
from hyperzoo.weights import temporary_of


def verify_run(run_dir: str | Path, trust_code: bool = False) -> tuple[list[str], list[str]]:
    """Problems (one line each) and notes of ``run_dir``: config.yaml loads and builds its
    target and method; each checkpoint's metadata, content hash and values are sound and fit
    that model (``checkpoint.safetensors`` also resumable). A run of a module that lived in
    memory (``hyperzoo.fit``) has no model to build: its files are checked alone, and a note
    says so."""
    run_dir = Path(run_dir)
    problems: list[str] = []
    notes: list[str] = []
    try:
        config = read_config(run_dir)
    except (UserError, OSError) as e:
        return [str(e)], notes
    session = None
    try:
        if config.target.name.startswith("<in-memory"):
            # No module to build; the method's settings are checked all the same.
            resolve_method_config(config.method)
            notes.append(f"target {config.target.name} was a module in memory, not in the folder: each "
                         "checkpoint's file was checked, not that it fits the module "
                         "(hyperzoo.load(run_dir, module=...) checks that)")
        else:
            # On the CPU: checking a run trained on a GPU must not need one (checkpoints are CPU tensors).
            session = build_session(config, with_data=False, trust_code=trust_code, device="cpu")
    except (UserError, OSError) as e:
        return [str(e)], notes
    for name, required in ((CHECKPOINT, True), (BEST, False)):
        path = run_dir / name
        if not path.is_file():
            if required:
                problems.append(f"{path} is missing: the run never reached its first checkpoint")
            continue
        try:
            meta = checkpoint_meta(run_dir, name) or {}  # the header: which checks apply
            # The checkpoint a resume continues from loads as the trainer loads it, optimizers'
            # and generators' states too (an RNG state of the wrong form passed and failed the
            # resume); one read of the tensors, verified by `load_checkpoint`.
            resumable = name == CHECKPOINT and meta.get("format") == FORMAT
            if session is None:
                read_checkpoint(path, max_step=config.train.steps, full=resumable)
                check_run_id(path, meta, config.run_id)
            else:
                t = config.train
                optimizers = (make_optimizers(session.method, t.optimizer, t.lr, t.momentum, t.fused)
                              if resumable else None)
                generators = {g: torch.Generator() for g in meta.get("generators", [])} if resumable else None
                load_checkpoint(run_dir, session.method, optimizers, generators, name=name,
                                max_step=config.train.steps, run_id=config.run_id)
        except (UserError, OSError) as e:
            problems.append(str(e))
            continue
        if meta["format"] < 3 and "sha256" not in meta:
            notes.append(f"{path}: format {meta['format']} has no content hash; its values were "
                         "checked, its integrity cannot be")
        else:
            notes.append(f"{path}: step {meta['step']}, content hash verified")
    # An interrupted write's leftover: harmless (the next resume deletes it), but a folder said
    # "ok" beside a 6 MB file the user did not know about.
    for p in sorted(q for q in run_dir.iterdir() if temporary_of(q) in TRAINER_FILES):
        notes.append(f"{p}: left by an interrupted write of {temporary_of(p)}; the next --resume deletes it")
    return problems, notes

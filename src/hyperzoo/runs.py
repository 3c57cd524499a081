"""Run folders and checkpoints (safetensors + JSON metadata, written atomically, verified on load).

A run folder holds ``config.yaml`` (resolved), ``command.txt`` (every command that touched
it), ``metrics.jsonl`` (one JSON object per logged step), ``checkpoint.safetensors`` (the last
state, to resume from) and, with ``train.keep_best``, ``best.safetensors`` (the model of the best
validation accuracy so far: early stopping). ``.lock`` is held by the one process training it.

Every checkpoint's metadata carries a SHA-256 of its tensors and metadata; loading checks it,
the metadata's keys and ranges, and that the model and optimizer state are finite.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError, safe_open

from hyperzoo.config import Config, load_config
from hyperzoo.data.custom import file_sha256
from hyperzoo.devices import GLOBAL_RNG, cuda_rng_states, machine, module_device, set_cuda_rng_states
from hyperzoo.errors import RunError
from hyperzoo.weights import atomic_write_text, open_own, save_tensors, temporary_of

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
LOCK = ".lock"
# 3: content hash, global RNG state and thread count. 1 and 2 (no hash) still give their model.
FORMAT = 3

__all__ = ["BEST", "CHECKPOINT", "FORMAT", "LOCK", "TRAINER_FILES", "RunError", "append_command",
           "check_run_id", "checkpoint_meta", "checkpoint_step", "content_hash", "load_checkpoint",
           "lock_run", "read_checkpoint", "read_config", "read_metrics", "record_command",
           "remove_stale_temporaries", "save_checkpoint", "training_time", "truncate_metrics",
           "write_config"]


def write_config(run_dir: Path, config: Config) -> None:
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


def read_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        why = ("it is a file, not a folder" if Path(run_dir).is_file() else "it does not exist"
               if not Path(run_dir).exists() else f"{path.name} is missing")
        raise RunError(f"{run_dir} is not a hyperzoo run folder: {why}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise RunError(f"{path} is not readable YAML ({str(e).splitlines()[0]}); hyperzoo train wrote it: "
                       "restore it from a copy") from e
    if not (isinstance(raw, dict) and {"target", "method"} <= raw.keys()):
        # Filled in with defaults, an emptied file built another model (and no run_id to check
        # the checkpoint against).
        raise RunError(f"{path} is empty or lacks the run's target and method; hyperzoo train wrote "
                       "it: restore it from a copy")
    config = load_config(path)
    if "fused" not in (raw.get("train") or {}):
        # Written before train.fused: that run trained with the per-tensor Adam; its resume must too.
        config.train.fused = False
    if "val_pick" not in (raw.get("data") or {}):
        # Written before data.val_pick: that run held out the last examples of a set of its own.
        config.data.val_pick = "last"
    d = config.data
    if d.sha256:
        # fit keeps its data file in the run folder: a folder copied elsewhere must read its own
        # copy, not whatever now lies at the original folder's path (another run's data, say).
        recorded, own = Path(d.dataset), Path(run_dir) / Path(d.dataset).name
        if (own.is_file() and not (recorded.is_file() and file_sha256(recorded) == d.sha256)
                and file_sha256(own) == d.sha256):
            d.dataset = str(own.resolve())
    return config


def append_command(run_dir: Path, argv: list[str]) -> None:
    """Append ``argv`` to command.txt as one shell-quoted line (``--set
    'method.generator_hidden=[[40, 40]]'``): a CLI command's runs again; the Python API's name
    the call and its arguments (``hyperzoo.Run.evaluate run=… networks=100 …``)."""
    with open_own(Path(run_dir) / "command.txt", "a") as f:
        f.write(shlex.join(argv) + "\n")


def append_comment(run_dir: Path, text: str) -> None:
    """Append ``# text`` to command.txt (a shell comment: the file still reruns line by line)."""
    with open_own(Path(run_dir) / "command.txt", "a") as f:
        f.write("# " + " ".join(text.split()) + "\n")


def record_command(folder: Path, argv: list[str]) -> None:
    """`append_command`, best effort (like metrics files): a folder that cannot be written gets
    a warning line on stderr, not an error after the work is done."""
    try:
        append_command(folder, argv)
    except OSError as e:
        print(f"warning: {Path(folder) / 'command.txt'} was not written ({e.strerror or e})", file=sys.stderr)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Logged rows (JSON objects with an integer ``step``); a torn last line (a crash while
    appending) is skipped, and any other line that is not such a row with a warning naming it
    (an edited file crashed the resume that rewrites it, or lost a line without a word)."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = []
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and type(row.get("step")) is int:
                rows.append(row)
            elif number < len(lines) and line.strip():
                print(f"warning: {path} line {number} is not a logged row (a JSON object with an "
                      "integer step); it is skipped, and left out when a resume rewrites the file",
                      file=sys.stderr)
    return rows


def truncate_metrics(run_dir: Path, last_step: int) -> None:
    """Keep only rows up to ``last_step``, the checkpoint a resumed run continues from."""
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= last_step]
    atomic_write_text(Path(run_dir) / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


@contextlib.contextmanager
def lock_run(run_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` (its ``.lock`` file) for the block; a second
    trainer of the same folder fails (after ``wait`` seconds at most: a trainer waits briefly
    so that another process's momentary probe never makes it fail). The OS drops the lock when
    the process dies."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): no lock
        yield
        return
    with open_own(Path(run_dir) / LOCK, "a") as f:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunError(f"{run_dir} is being trained by another process (it holds "
                                   f"{LOCK}); wait for it to finish") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# The files only the lock holder (the trainer) writes: their temporaries can be stale, never in
# flight. Others (metrics-*.json, noise_scale.json) are written without the lock.
TRAINER_FILES = (CHECKPOINT, BEST, "config.yaml", "metrics.jsonl")


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporaries a crashed atomic write of the trainer's own files left (call under
    the lock); anything else, a user's ``.draft.tmp`` too, stays."""
    stale = sorted(p for p in Path(run_dir).iterdir() if temporary_of(p) in TRAINER_FILES)
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def content_hash(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> str:
    """SHA-256 over the tensors (sorted names, dtype, shape, bytes) and the metadata (JSON,
    sorted keys, without ``sha256`` itself)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    return h.hexdigest()


def save_checkpoint(run_dir: Path, model: torch.nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer], step: int,
                    generators: dict[str, torch.Generator], name: str = CHECKPOINT,
                    extra: dict[str, Any] | None = None, global_rng: bool = False,
                    process_rng: dict[str, torch.Tensor] | None = None) -> None:
    """Everything needed to continue bit-for-bit: model, optimizers, RNG states, step.

    ``global_rng`` also saves torch's global RNG (the trainer owns it: a target's dropout
    draws from it), and every CUDA generator's where CUDA is in use; ``process_rng`` the other
    training processes' (`hyperzoo.distributed.global_rng_states`). ``name`` and ``extra`` (more
    JSON metadata) serve the best-model file, which holds the model alone (no optimizers or
    generators). Every tensor is written as a CPU tensor; loading puts it on the model's device."""
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
    if global_rng:
        tensors[f"rng.{GLOBAL_RNG}"] = torch.get_rng_state()
        # Where CUDA is in use, its generators too (a target's dropout on the GPU draws there).
        tensors.update({f"rng.{key}": state for key, state in cuda_rng_states().items()})
        tensors.update({f"rng.{key}": state for key, state in (process_rng or {}).items()})
    # What wrote it (``extra`` may carry an earlier writer's: a checkpoint rewritten by
    # tune-noise keeps the CPU, GPU and torch that trained it).
    meta = {"machine": machine(module_device(model)), "torch": torch.__version__, **(extra or {}),
            "format": FORMAT, "step": step, "optimizers": optim_meta, "generators": sorted(generators),
            "threads": torch.get_num_threads()}
    meta["sha256"] = content_hash(tensors, meta)
    save_tensors(Path(run_dir) / name, tensors, {"hyperzoo": json.dumps(meta)})


def _open(path: Path) -> tuple[dict[str, Any], Any]:
    """Metadata of a checkpoint file and an open safetensors handle's reader, as RunErrors."""
    try:
        with safe_open(str(path), "pt") as f:
            raw = (f.metadata() or {}).get("hyperzoo")
            if raw is None:
                raise RunError(f"{path} is not a hyperzoo checkpoint (no 'hyperzoo' metadata)")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise RunError(f"{path} cannot be read as safetensors: {str(e).splitlines()[0]}") from e
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise RunError(f"{path}: its metadata is not valid JSON ({e.msg})") from e
    if not isinstance(meta, dict):
        raise RunError(f"{path}: its metadata is not a JSON object")
    return meta, tensors


def read_checkpoint(path: Path, max_step: int | None = None, full: bool = False
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Metadata and tensors of a checkpoint file, verified: format, required keys, content hash
    (format 3), ``0 <= step <= max_step``, finite model (and optimizer state). ``full``: the
    file must be resumable (current format, optimizers, RNG states). Raises `RunError`."""
    path = Path(path)
    if not path.is_file():
        started = (path.parent / "config.yaml").is_file()  # a run stopped before its first checkpoint
        raise RunError(f"{path.parent} has no {path.name}; "
                       + (f"continue its training first: hyperzoo train --resume {path.parent}" if started
                          else "train it first"))
    meta, tensors = _open(path)
    readable = (FORMAT,) if full else (1, 2, FORMAT)
    if meta.get("format") not in readable:
        raise RunError(f"{path}: checkpoint format {meta.get('format')!r}, expected "
                       f"{' or '.join(map(str, readable))}")
    required = ["step"] + (["sha256"] if meta["format"] >= 3 else []) + (
        ["optimizers", "generators"] if full else [])
    missing = [k for k in required if k not in meta]
    if missing:
        raise RunError(f"{path}: metadata lacks {', '.join(map(repr, missing))}")
    # Whatever the format says: "format": 2 written into a format-3 file skipped the check.
    if (meta["format"] >= 3 or "sha256" in meta) and content_hash(tensors, meta) != meta["sha256"]:
        raise RunError(f"{path} is corrupt: its content does not match the SHA-256 in its metadata")
    step = meta["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise RunError(f"{path}: step {step!r} is not an integer of 0 or more")
    if max_step is not None and step > max_step:
        raise RunError(f"{path} is at step {step}, beyond config.yaml's train.steps = {max_step}: was "
                       f"config.yaml edited? train.steps must be at least {step}")
    for key, t in tensors.items():
        if (key.startswith(("model.", "optim.")) and t.is_floating_point()
                and not bool(torch.isfinite(t).all())):
            raise RunError(f"{path}: tensor {key!r} holds NaN or infinite values")
    if full:
        absent = [f"rng.{g}" for g in meta["generators"] if f"rng.{g}" not in tensors]
        if absent:
            raise RunError(f"{path}: metadata names RNG state {absent[0]!r}, which the file lacks")
    return meta, tensors


def validation_score_of(meta: Mapping[str, Any]) -> float | None:
    """The validation score a best-model checkpoint was kept for (`train.validation_score`), or
    None. Folders written before regression runs existed name it ``val_mean_accuracy``."""
    return meta.get("val_score", meta.get("val_mean_accuracy"))


def checkpoint_meta(run_dir: Path, name: str = CHECKPOINT) -> dict[str, Any] | None:
    """The JSON metadata of a checkpoint file (step, …), or None if there is none (unverified:
    reading the step does not need the tensors)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})["hyperzoo"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise RunError(f"{path} cannot be read as a hyperzoo checkpoint ({type(e).__name__})") from e
    if not isinstance(meta, dict):
        raise RunError(f"{path}: its metadata is not a JSON object")
    # The one field read before the tensors are (resume, keep_best): its type checked here.
    step = meta.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise RunError(f"{path}: its metadata's step {step!r} is not a non-negative integer")
    return meta


def checkpoint_step(run_dir: Path) -> int | None:
    meta = checkpoint_meta(run_dir)
    return None if meta is None else meta.get("step")


def training_time(run_dir: Path, name: str = CHECKPOINT) -> dict[str, Any]:
    """The training wall seconds up to checkpoint ``name`` (the last one, or the best model), through
    resumes: ``train_seconds``, and ``train_seconds_from_step`` (> 0 where the time of the first
    steps is unknown: resumed from a checkpoint written before times were recorded), and the CPU
    that wrote the checkpoint (``train_machine``). ``{}`` where the checkpoint records none."""
    meta = checkpoint_meta(Path(run_dir), name) or {}
    timing = {k: meta[k] for k in ("train_seconds", "train_seconds_from_step") if k in meta}
    return {**timing, "train_machine": meta["machine"]} if meta.get("machine") else timing


def check_run_id(path: Path, meta: Mapping[str, Any], run_id: str | None) -> None:
    """Refuse checkpoint ``path`` (its metadata ``meta``) stamped with a ``run_id`` other than its
    folder's; a checkpoint or folder from before run ids is not checked."""
    if run_id is not None and meta.get("run_id", run_id) != run_id:
        raise RunError(f"{path} belongs to another run (run_id {meta['run_id']!r}; this folder's "
                       f"config.yaml has {run_id!r}); was it copied from another run folder?")


def _first_misfit(model: torch.nn.Module, saved: Mapping[str, torch.Tensor]) -> str:
    """The first tensor where a checkpoint's model state and ``model``'s differ, for people
    (torch's message begins with a header naming neither)."""
    own = model.state_dict()
    for key, value in own.items():
        if key not in saved:
            return f"the model has model.{key}, the checkpoint not"
        if tuple(saved[key].shape) != tuple(value.shape):
            return (f"model.{key} is {tuple(saved[key].shape)} in the checkpoint, {tuple(value.shape)} "
                    "in the model")
    extra = next((k for k in saved if k not in own), None)
    return f"the checkpoint has model.{extra}, the model not" if extra else "tensors differ"


def load_checkpoint(run_dir: Path, model: torch.nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    generators: dict[str, torch.Generator] | None = None,
                    name: str = CHECKPOINT, max_step: int | None = None,
                    global_rng: bool = False, rank: int = 0, *, run_id: str | None) -> int:
    """Restore what `save_checkpoint` wrote (verified, see `read_checkpoint`); returns the step
    to continue from. ``global_rng`` restores torch's global generators too, those the
    checkpoint holds: the first training process's, or for ``rank`` > 0 that process's own
    (`hyperzoo.distributed.global_rng_states`); one it lacks keeps its state. ``run_id`` is the
    folder's (`Config.run_id`): a checkpoint stamped with another is refused (one written
    before runs had ids, or a folder without one, is not checked)."""
    path = Path(run_dir) / name
    meta, tensors = read_checkpoint(path, max_step, full=bool(optimizers))
    check_run_id(path, meta, run_id)
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state)
    except RuntimeError as e:
        misfit = _first_misfit(model, model_state)
        raise RunError(f"{path} does not fit the model its config.yaml builds ({misfit}); was "
                       "config.yaml edited, or the checkpoint copied from another run?") from e
    try:
        for group, optimizer in (optimizers or {}).items():
            saved = meta["optimizers"][group]
            state: dict[int, dict[str, Any]] = {}
            for key, value in tensors.items():
                if key.startswith(f"optim.{group}."):
                    idx, entry = key[len(f"optim.{group}."):].split(".", 1)
                    state.setdefault(int(idx), {})[entry] = value
            for idx, entries in saved["state"].items():
                state.setdefault(int(idx), {}).update(entries)
            optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        for gen_name, gen in (generators or {}).items():
            gen.set_state(tensors[f"rng.{gen_name}"])
        if optimizers or generators:
            # Every process's global CPU state, checked before any is set (`verify` checks a
            # torchrun run's on one process; a bad one crashed that rank's resume in a
            # traceback), and one for every process the run had.
            for key, value in tensors.items():
                ranks = key.startswith("rng.rank") and key.endswith(f".{GLOBAL_RNG}")
                if key == f"rng.{GLOBAL_RNG}" or ranks:
                    torch.Generator().set_state(value)
            # The processes whose states this load reads: all of them where only checked
            # (`verify`), the resuming process's own where the run had it.
            saved = int(meta.get("processes") or 1)
            wanted = range(1, saved) if not global_rng else [rank] if 0 < rank < saved else []
            lacking = [r for r in wanted if f"rng.rank{r}.{GLOBAL_RNG}" not in tensors]
            if lacking:
                raise RunError(f"{path} lacks training process {lacking[0]}'s random state (the run had "
                               f"{saved} processes): it cannot continue exactly")
        if global_rng and rank == 0:
            if f"rng.{GLOBAL_RNG}" in tensors:
                torch.set_rng_state(tensors[f"rng.{GLOBAL_RNG}"])
            set_cuda_rng_states({k[4:]: v for k, v in tensors.items() if k.startswith("rng.cuda")})
        elif global_rng:
            own, device = f"rng.rank{rank}.", module_device(model)
            if own + GLOBAL_RNG in tensors:
                torch.set_rng_state(tensors[own + GLOBAL_RNG])
            if own + "cuda" in tensors and device.type == "cuda":  # the process's own GPU
                torch.cuda.set_rng_state(tensors[own + "cuda"], device)
    except (KeyError, ValueError, RuntimeError) as e:
        raise RunError(f"{path}: its optimizer or RNG state does not fit this run "
                       f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    return meta["step"]


def resume_note(meta: Mapping[str, Any], device: torch.device | None = None,
                processes: int = 1) -> str | None:
    """A note when the checkpoint was written with another thread count, on another CPU (or GPU:
    the one the run continues on, ``device``), with another torch than the current process's
    (floating-point reductions then differ, so the continuation is not bit-identical) or by
    another number of training processes (``processes``; their shares of the images, and the
    dropout masks a target draws for them, differ)."""
    notes = []
    saved_processes = meta.get("processes")
    if saved_processes is None and processes > 1:
        notes.append("the checkpoint does not say how many training processes wrote it (it keeps "
                     "the generators of the first only); a target's own dropout masks differ from "
                     "an uninterrupted run's")
    elif saved_processes not in (None, processes):
        notes.append(f"the checkpoint was written by {saved_processes} training process(es), this "
                     f"run has {processes}; a target's own dropout masks, and the rounding, differ "
                     "from an uninterrupted run's")
    saved, now = meta.get("threads"), torch.get_num_threads()
    if saved is not None and saved != now:
        notes.append(f"the checkpoint was trained with {saved} threads, this process uses {now}; "
                     f"set train.threads: {saved} for a bit-identical continuation")
    for key, what, current in (("machine", "on", machine(device)),
                               ("torch", "with torch", torch.__version__)):
        if meta.get(key) not in (None, current):
            notes.append(f"the checkpoint was written {what} {meta[key]!r}, this process runs "
                         f"{what} {current!r}; the continuation rounds differently")
    return "\n".join(f"note: {n}" for n in notes) or None

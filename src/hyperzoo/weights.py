"""The weight batch: hyperzoo's one currency.

A weight batch maps a target's parameter names to tensors of shape ``(N, *param_shape)``,
ensemble axis first. Methods produce them, evaluation consumes them, files store them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import torch
from safetensors.torch import load_file

WeightBatch = dict[str, torch.Tensor]


def batch_size(weights: Mapping[str, torch.Tensor]) -> int:
    """Number of networks N in a weight batch (all entries must agree)."""
    sizes = {t.shape[0] for t in weights.values()}
    if len(sizes) != 1:
        raise ValueError(f"weight batch has inconsistent ensemble sizes {sorted(sizes)}")
    return sizes.pop()


def flatten(weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate every parameter of each network: ``(N, total_weights)``."""
    n = batch_size(weights)
    return torch.cat([t.reshape(n, -1) for t in weights.values()], dim=1)


def select(weights: Mapping[str, torch.Tensor], index: int | slice | torch.Tensor) -> WeightBatch:
    """Networks ``index`` of a batch; an int gives one network's plain state dict."""
    return {k: v[index] for k, v in weights.items()}


def concat(batches: list[Mapping[str, torch.Tensor]]) -> WeightBatch:
    """Join weight batches along the ensemble axis."""
    return {k: torch.cat([b[k] for b in batches]) for k in batches[0]}


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# An interrupted `atomic_write` leaves ``.NAME.XXXXXXXX.tmp`` (tempfile's 8 random characters).
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


def temporary_of(p: Path) -> str | None:
    """The file name whose interrupted `atomic_write` left ``p`` (a regular file, not a link),
    else None."""
    m = _TEMPORARY.fullmatch(p.name)
    return m["name"] if m and p.is_file() and not p.is_symlink() else None


def open_own(path: Path, mode: str) -> TextIO:
    """``open(path, mode)`` for appending to a run folder's own file, refusing to follow a
    symbolic link (a link in a folder someone else made could point anywhere)."""
    flags = {"a": os.O_WRONLY | os.O_APPEND | os.O_CREAT}[mode]
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:
        if os.path.islink(path):
            raise OSError(e.errno, f"{path} is a symbolic link; a run folder's files must be its own") from e
        raise
    return os.fdopen(fd, mode, encoding="utf-8")


def _read_umask() -> int:
    """The process's umask, without setting it where Linux shows it (``os.umask`` sets it to
    read it: for that moment another thread's new files got no umask at all)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):  # not Linux: read it the only other way there is
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so a crash never leaves half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _naming(e, path) from e
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file private (0600); give it the permissions open() would.
        os.chmod(tmp, 0o666 & ~_read_umask())
        # Data on disk before the rename, and the rename itself after: a crash of the machine
        # (not only of the process) leaves the old file or the new one, never an empty one.
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:  # a full disk, a quota: "[Errno 28] No space left on device" named no file
        Path(tmp).unlink(missing_ok=True)
        raise _naming(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _naming(e: OSError, path: Path) -> OSError:
    """``e`` with the file it was writing named (the temporary's name, or none, said nothing)."""
    if e.errno is None:
        return e
    return type(e)(e.errno, f"could not write {path} ({e.strerror})")


def atomic_write_text(path: Path, text: str) -> None:
    # UTF-8 whatever the locale: reports hold ±, λ, ε (a C or cp1252 locale cannot encode them).
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# safetensors' names of the dtypes a weight batch, a checkpoint or a data file holds.
_SAFETENSORS_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
                       torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
                       torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
                       torch.uint16: "U16", torch.uint32: "U32", torch.uint64: "U64",
                       torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2"}


def save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict | None = None):
    """Write tensors as safetensors (contiguous CPU copies), atomically and byte for byte the
    same for the same tensors and metadata."""
    data = {k: tensors[k].detach().to("cpu").contiguous() for k in sorted(tensors)}
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    atomic_write(path, lambda tmp: _write_safetensors(Path(tmp), data, meta))


def _write_safetensors(path: Path, data: Mapping[str, torch.Tensor], meta: dict[str, str]) -> None:
    """The safetensors format written here, not by ``safetensors.save_file``, whose header
    orders the metadata at random (a hash map): two saves of one checkpoint differed in bytes.
    Here: keys sorted, the tensors' bytes in that order; read back by ``safetensors`` itself."""
    header: dict[str, object] = {"__metadata__": meta} if meta else {}
    offset = 0
    for name, t in data.items():
        if t.dtype not in _SAFETENSORS_DTYPES:
            raise TypeError(f"tensor {name!r} has dtype {t.dtype}, which safetensors files here do not hold")
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    with path.open("wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for t in data.values():
            if t.numel():
                # Raw bytes, little-endian as on every CPU torch runs on (bf16 has no numpy type:
                # viewed as bytes), written from the tensor's own memory, not a copy.
                f.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (never pickle)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such safetensors file")
    return load_file(str(path))

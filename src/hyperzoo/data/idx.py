"""Reader for IDX files (the MNIST format), gzipped or raw."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from hyperzoo.data.base import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def idx_candidates(folder: Path, stem: str) -> list[Path]:
    """Accepted spellings of ``stem`` (e.g. ``train-images-idx3-ubyte``) in ``folder``, preferred
    first: gzipped, raw, and the ``train-images.idx3-ubyte`` spelling some mirrors use."""
    dotted = stem.replace("-idx", ".idx", 1)
    names = [f"{stem}.gz", stem, f"{dotted}.gz", dotted]
    return [folder / n for n in dict.fromkeys(names)]


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    # Sniff rather than trust the extension: renamed files are common.
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt gzip data ({e})") from e


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a read-only uint8 array of the dimensions it declares.

    ``ndim`` (e.g. 3 for images, 1 for labels) is checked when given.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (bad magic {data[:4].hex() or 'empty'}; "
            "expected 0000 08 then the number of dimensions)"
        )
    if data[2] != _UBYTE:
        raise DataError(f"{path}: expected unsigned-byte IDX data (type 0x08), got 0x{data[2]:02x}")
    nd = data[3]
    if ndim is not None and nd != ndim:
        raise DataError(f"{path}: expected an IDX file with {ndim} dimension(s), got {nd}")
    header = 4 + 4 * nd
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=nd, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(data) - header
    if found != expected:
        kind = "truncated" if found < expected else "oversized"
        shape = "x".join(map(str, dims))
        raise DataError(
            f"{path}: {kind} IDX file (header says {shape} = {expected} bytes of data, "
            f"found {found})"
        )
    # frombuffer over bytes is read-only, which keeps cached arrays safe from callers.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)

"""CIFAR-100 reader: the binary or python version, archived (.tar.gz) or extracted.

The layout is CIFAR-10's (see `hyperzoo.data.cifar`) with one training and one test file, and two
labels per image: coarse (20 superclasses) and fine (100 classes). The fine labels are the
classes, as in seed 003's CIFAR-100 row. Binary records are a coarse label byte, a fine label
byte and the R, G, B planes; the python version is a pickle read with the same restricted
unpickler as CIFAR-10's (numpy arrays and plain containers only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperzoo.data.base import DataError
from hyperzoo.data.checksums import verify_known, verify_known_bytes
from hyperzoo.data.cifar import Arrays, parse_py_batch, read_archive

SPLIT_FILES = ("train", "test")
BIN_ARCHIVE = "cifar-100-binary.tar.gz"
BIN_FOLDER = "cifar-100-binary"
PY_ARCHIVE = "cifar-100-python.tar.gz"
PY_FOLDER = "cifar-100-python"
SOURCES = (BIN_ARCHIVE, f"{BIN_FOLDER}/", PY_ARCHIVE, f"{PY_FOLDER}/")
NUM_CLASSES = 100

_PIXELS = 3 * 32 * 32
_RECORD = 2 + _PIXELS


def _check_labels(y: np.ndarray, what: str) -> None:
    if y.size and int(y.max()) >= NUM_CLASSES:
        raise DataError(f"{what}: fine label {int(y.max())} out of range 0-{NUM_CLASSES - 1}")


def parse_bin(data: bytes, what: str) -> Arrays:
    """Records of the binary version -> (x uint8 (n, 3, 32, 32), fine labels uint8 (n,))."""
    if not data or len(data) % _RECORD:
        raise DataError(f"{what}: truncated CIFAR-100 file ({len(data)} bytes is not a whole number "
                        f"of {_RECORD}-byte records)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    y = records[:, 1]  # byte 0 is the coarse label
    _check_labels(y, what)
    return records[:, 2:].reshape(-1, 3, 32, 32), y


def parse_py(data: bytes, what: str) -> Arrays:
    """A pickled file of the python version -> (x uint8 (n, 3, 32, 32), fine labels uint8 (n,))."""
    return parse_py_batch(data, what, "fine_labels", NUM_CLASSES)


def find_source(folder: Path) -> Path | None:
    """The first CIFAR-100 copy in ``folder`` (see ``SOURCES``), or the folder itself when it
    holds the extracted files; None if there is none."""
    for name in SOURCES:
        candidate = folder / name.rstrip("/")
        if candidate.is_dir() if name.endswith("/") else candidate.is_file():
            return candidate
    if (folder / "train.bin").is_file() or ((folder / "train").is_file() and (folder / "meta").is_file()):
        return folder
    return None


def read_cifar100(source: str | Path) -> dict[str, Arrays]:
    """Read CIFAR-100 from an archive or extracted folder: ``{"train": (x, y), "test": (x, y)}``,
    x uint8 (n, 3, 32, 32), y the fine labels uint8 (n,). The official python archive is verified
    against its published checksum."""
    source = Path(source)
    files: dict[str, tuple[str, bytes]] = {}
    if source.is_dir():
        for stem in SPLIT_FILES:
            for base in (f"{stem}.bin", stem):
                if (source / base).is_file():
                    verify_known(source / base, f"cifar100/{base}")
                    files[stem] = (base, (source / base).read_bytes())
                    break
    else:
        verify_known(source, f"cifar100/{source.name}")
        files = read_archive(source, SPLIT_FILES)
        for base, data in files.values():
            verify_known_bytes(data, f"cifar100/{base}", f"{source}:{base}")
    missing = [s for s in SPLIT_FILES if s not in files]
    if missing:
        raise DataError(f"{source}: missing CIFAR-100 file {missing[0]} (expected train and test, as "
                        ".bin files or python pickles)")
    out: dict[str, Arrays] = {}
    for stem in SPLIT_FILES:
        base, data = files[stem]
        what = f"{source}/{base}" if source.is_dir() else f"{source}:{base}"
        x, y = (parse_bin if base.endswith(".bin") else parse_py)(data, what)
        # Results are cached and shared; make accidental in-place edits fail loudly.
        x.flags.writeable = False
        y.flags.writeable = False
        out[stem] = (x, y)
    return out

"""CIFAR-10 reader: the binary or python version, archived (.tar.gz) or extracted.

Archives are streamed with ``tarfile``; nothing is extracted to disk. The python version is a
pickle, so it is read with an unpickler that can only rebuild numpy arrays and plain containers.
"""

from __future__ import annotations

import codecs
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from hyperzoo.data.base import DataError
from hyperzoo.data.checksums import verify_known, verify_known_bytes

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
BIN_ARCHIVE = "cifar-10-binary.tar.gz"
BIN_FOLDER = "cifar-10-batches-bin"
PY_ARCHIVE = "cifar-10-python.tar.gz"
PY_FOLDER = "cifar-10-batches-py"
SOURCES = (BIN_ARCHIVE, f"{BIN_FOLDER}/", PY_ARCHIVE, f"{PY_FOLDER}/")

_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE
_RECORD = 1 + _PIXELS  # one label byte, then the R, G and B planes, each row-major 32x32
_NUM_CLASSES = 10

Arrays = tuple[np.ndarray, np.ndarray]

# Pickles written by Python 2 name numpy.core; Python 3 ones written by numpy 2 name numpy._core.
# Objects are handed out directly so that the deprecated numpy.core alias is never imported.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Protocol <= 2 pickles made by Python 3 spell bytes objects as _codecs.encode(str, "latin1").
    ("_codecs", "encode"): codecs.encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, what: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._what = what

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._what}: refusing to unpickle {module}.{name} "
                "(only numpy arrays, dicts, lists and bytes are allowed)"
            ) from None


def safe_unpickle(data: bytes, what: str) -> Any:
    """Unpickle untrusted ``data`` allowing only numpy arrays and builtin containers."""
    try:
        return _RestrictedUnpickler(data, what).load()
    except DataError:
        raise
    except Exception as e:  # malformed input can fail in many ways; all mean "not a batch"
        raise DataError(f"{what}: not a readable pickle ({type(e).__name__}: {e})") from e


def _check_labels(y: np.ndarray, what: str, num_classes: int) -> None:
    if y.size and int(y.max()) >= num_classes:
        raise DataError(f"{what}: label {int(y.max())} out of range 0-{num_classes - 1}")


def parse_bin_batch(data: bytes, what: str, num_classes: int = _NUM_CLASSES) -> Arrays:
    """Records of the binary version -> (x uint8 (n, 3, 32, 32), y uint8 (n,)), labels in
    0 … ``num_classes`` − 1."""
    if not data or len(data) % _RECORD:
        raise DataError(
            f"{what}: truncated CIFAR-10 batch ({len(data)} bytes is not a whole number "
            f"of {_RECORD}-byte records)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    y = records[:, 0]
    _check_labels(y, what, num_classes)
    return records[:, 1:].reshape(-1, 3, _SIDE, _SIDE), y


def parse_py_batch(data: bytes, what: str, labels_key: str = "labels", num_classes: int = _NUM_CLASSES
                   ) -> Arrays:
    """A pickled batch of the python version -> (x uint8 (n, 3, 32, 32), y uint8 (n,)), the labels
    from ``labels_key`` (CIFAR-100: ``fine_labels``) in 0 … ``num_classes`` − 1."""
    obj = safe_unpickle(data, what)
    if not isinstance(obj, dict):
        raise DataError(f"{what}: expected a pickled dict, got {type(obj).__name__}")
    x, labels = obj.get(b"data", obj.get("data")), obj.get(labels_key.encode(), obj.get(labels_key))
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != _PIXELS:
        raise DataError(f"{what}: 'data' must be a uint8 array of shape (n, {_PIXELS})")
    if not isinstance(labels, list) or len(labels) != len(x):
        raise DataError(f"{what}: '{labels_key}' must be a list of {len(x)} class indices")
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: '{labels_key}' must be a list of integers ({e})") from e
    if y.size and (y.ndim != 1 or y.dtype.kind not in "iu"):  # floats were truncated, booleans taken
        raise DataError(f"{what}: '{labels_key}' must be a list of integers, got {y.dtype} values")
    y = y.astype(np.int64)
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise DataError(f"{what}: label {bad} out of range 0-{num_classes - 1}")
    return x.reshape(-1, 3, _SIDE, _SIDE), y.astype(np.uint8)


def parse_batch(base: str, data: bytes, what: str, num_classes: int = _NUM_CLASSES) -> Arrays:
    """A batch file named ``base``: binary records if it ends in .bin, else a python pickle."""
    if base.endswith(".bin"):
        return parse_bin_batch(data, what, num_classes)
    try:
        return parse_py_batch(data, what, num_classes=num_classes)
    except DataError as e:
        # CIFAR-10's binary records are 1 + 3,072 bytes, CIFAR-100's 2 + 3,072; a pickle starts with 0x80.
        if data[:1] != b"\x80" and data and any(len(data) % size == 0 for size in (3073, 3074)):
            raise DataError(f"{what}: not a pickle, but its {len(data):,} bytes are whole binary CIFAR "
                            f"records: a binary batch is read by its name ending in .bin ({base}.bin)") from e
        raise


def find_source(folder: Path) -> Path | None:
    """The first CIFAR-10 copy found in ``folder`` (see ``SOURCES``), or the folder itself when it
    is an extracted batches folder; None if there is none."""
    for name in SOURCES:
        candidate = folder / name.rstrip("/")
        if candidate.is_dir() if name.endswith("/") else candidate.is_file():
            return candidate
    if (folder / "data_batch_1.bin").is_file() or (folder / "data_batch_1").is_file():
        return folder
    return None


def read_archive(path: Path, wanted: tuple[str, ...] = TRAIN_BATCHES + TEST_BATCHES
                 ) -> dict[str, tuple[str, bytes]]:
    """Batch name -> (file name, content) for every ``wanted`` batch (name without ``.bin``) in
    a tar archive; by default CIFAR-10's."""
    found: dict[str, tuple[str, bytes]] = {}
    try:
        # Stream mode decompresses once, front to back; members come in whatever order they do.
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                stem = base.removesuffix(".bin")
                if member.isfile() and stem in wanted and stem not in found:
                    f = tar.extractfile(member)
                    if f is not None:
                        found[stem] = (base, f.read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt archive ({e})") from e
    return found


def read_batches(path: Path, stems: tuple[str, ...] = TRAIN_BATCHES + TEST_BATCHES, known: bool = True
                 ) -> dict[str, tuple[str, bytes]]:
    """Batch name -> (file name, content) for every batch ``stems`` (CIFAR-10's) in an extracted
    folder; batches may be missing. ``known``: files verified by CIFAR-10's checksums where the
    name and size match (a batch of 10,000 records of your own has CIFAR-10's size)."""
    found: dict[str, tuple[str, bytes]] = {}
    for stem in stems:
        for base in (f"{stem}.bin", stem):
            file = path / base
            if file.is_file():
                if known:
                    verify_known(file, f"cifar10/{base}")
                found[stem] = (base, file.read_bytes())
                break
    return found


def read_cifar10(source: str | Path) -> dict[str, Arrays]:
    """Read all of CIFAR-10 from an archive or extracted folder.

    Returns ``{"train": (x, y), "test": (x, y)}`` with x uint8 (n, 3, 32, 32) and y uint8 (n,),
    train batches in order 1..5. Known batch files (and the official python archive) are
    verified against their checksums.
    """
    source = Path(source)
    if source.is_dir():
        batches = read_batches(source)
    else:
        verify_known(source, f"cifar10/{source.name}")
        batches = read_archive(source)
        for base, data in batches.values():
            verify_known_bytes(data, f"cifar10/{base}", f"{source}:{base}")
    missing = [s for s in TRAIN_BATCHES + TEST_BATCHES if s not in batches]
    if missing:
        raise DataError(
            f"{source}: missing CIFAR-10 batch {missing[0]} "
            "(expected data_batch_1..5 and test_batch, as .bin files or python pickles)"
        )
    out: dict[str, Arrays] = {}
    for split, stems in (("train", TRAIN_BATCHES), ("test", TEST_BATCHES)):
        parts = []
        for stem in stems:
            base, data = batches[stem]
            what = f"{source}/{base}" if source.is_dir() else f"{source}:{base}"
            parts.append(parse_batch(base, data, what))
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        # Results are cached and shared; make accidental in-place edits fail loudly.
        x.flags.writeable = False
        y.flags.writeable = False
        out[split] = (x, y)
    return out

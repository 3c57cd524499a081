"""``load_dataset``: one entry point for every data set, by name and split."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hyperzoo.data import cifar, cifar100, cubic, custom
from hyperzoo.data.base import DataError, Dataset, holdout
from hyperzoo.data.checksums import verify_known
from hyperzoo.data.digits import SPLITS as DIGITS_SPLITS
from hyperzoo.data.digits import digits_split
from hyperzoo.data.idx import idx_candidates, read_idx

DATASETS = ("digits", "mnist", "notmnist", "cifar10", "cifar5", "cifar5-hidden", "mnist-5000",
            "cifar10-5000", "cubic", "cifar100")
# Seed 002's variants of a base set: (base, kept classes relabelled from 0, training examples).
# CIFAR-5 is classes 0–4; "cifar5-hidden" holds classes 5–9, its out-of-distribution set.
_VARIANTS: dict[str, tuple[str, tuple[int, ...] | None, int | None]] = {
    "cifar5": ("cifar10", (0, 1, 2, 3, 4), None),
    "cifar5-hidden": ("cifar10", (5, 6, 7, 8, 9), None),
    "mnist-5000": ("mnist", None, 5000),
    "cifar10-5000": ("cifar10", None, 5000),
}

# data.dataset of a method whose objective needs no data (seed 000's toy problem).
NO_DATA = "none"
_FULL_SPLITS = ("train", "val", "test", "trainval")
_SPLITS: dict[str, tuple[str, ...]] = {
    "digits": DIGITS_SPLITS,
    "cubic": cubic.SPLITS,
    "mnist": _FULL_SPLITS,
    "notmnist": ("test",),
    "cifar10": _FULL_SPLITS,
    "cifar100": _FULL_SPLITS,
}
_SUBDIR = {"mnist": "mnist", "notmnist": "notmnist-small", "cifar10": "cifar-10", "cifar100": "cifar-100"}
# The validation split is the last n // k training examples: the paper's 5,000 of MNIST's 60,000
# and of CIFAR-10's 50,000, and the same ratio for sub-sampled copies.
_VAL_DIVISOR = {"mnist": 12, "cifar10": 10, "cifar100": 10}
_NUM_CLASSES = 10  # of every built-in set but CIFAR-100's

_IDX_FILES = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
    "and t10k-labels-idx1-ubyte.gz"
)
_NEEDS_DIR = {
    "mnist": f"a folder with {_IDX_FILES} (or its parent holding mnist/)",
    "notmnist": "a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
    "(or its parent holding notmnist-small/)",
    "cifar10": f"a folder with {cifar.BIN_ARCHIVE} (or {', '.join(cifar.SOURCES[1:])}), "
    "or its parent holding cifar-10/",
    "cifar100": f"a folder with {cifar100.BIN_ARCHIVE} (or {', '.join(cifar100.SOURCES[1:])}), "
    "or its parent holding cifar-100/",
}


def load_dataset(name: str, split: str, data_dir: str | Path | None = None,
                 val_fraction: float | None = None, val_pick: str = "random") -> Dataset:
    """Load one split of a data set into memory: a built-in name (see ``DATASETS``) or a path to
    a user's own (see ``hyperzoo.data.custom``), whose name is then the folder's or file's.

    ``data_dir`` is the data set's folder or its parent (e.g. a folder holding ``mnist/``); the
    embedded ``digits`` set ignores it. ``val_fraction`` is the share of the training examples
    held out as the validation split; None keeps the built-in sets' splits (MNIST 1/12, CIFAR-10
    1/10: the last ones) and holds out 1/10 of a user's set, which ``val_pick`` picks (`holdout`:
    a fixed random subset, or the last ones). Digits' splits are fixed.
    Parsed files are cached in memory, never on disk.
    """
    if name == NO_DATA:
        raise DataError("data.dataset is 'none': this run trained without data, so there are no "
                        "examples to evaluate or analyse")
    if val_fraction is not None and not 0 <= val_fraction < 1:
        raise DataError(f"data.val_fraction must be in [0, 1) (0: none held out), got {val_fraction}")
    if name not in DATASETS:
        return _custom(name, split, data_dir, val_fraction, val_pick)
    if name in _VARIANTS:
        return _variant(name, split, data_dir, val_fraction)
    if split not in _SPLITS[name]:
        raise DataError(
            f"unknown split {split!r} for dataset {name!r}; "
            f"expected one of {', '.join(_SPLITS[name])}"
        )
    if name == "digits":  # fixed splits: val_fraction does not apply (a new run refuses it, train.py)
        x, y = digits_split(split)
        return Dataset(x, y, name, split, _NUM_CLASSES)
    if name == "cubic":  # regression: no classes
        x, y = cubic.cubic_split(split)
        return Dataset(x, y, name, split, 0)
    if data_dir is None:
        raise DataError(f"dataset {name!r} needs --data-dir pointing at {_NEEDS_DIR[name]}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"data dir {root} does not exist or is not a folder")

    if name == "cifar10":
        source = cifar.find_source(root / _SUBDIR[name]) or cifar.find_source(root)
        if source is None:
            raise DataError(
                f"dataset 'cifar10': no {cifar.BIN_ARCHIVE} in {root / _SUBDIR[name]} or {root} "
                f"(also accepted there: {', '.join(cifar.SOURCES[1:])})"
            )
        parts = _cached_cifar(source.resolve(), custom.file_stamp(source))
        x8, y8 = parts["test" if split == "test" else "train"]
    elif name == "cifar100":
        source = cifar100.find_source(root / _SUBDIR[name]) or cifar100.find_source(root)
        if source is None:
            raise DataError(f"dataset 'cifar100': no {cifar100.BIN_ARCHIVE} in {root / _SUBDIR[name]} or "
                            f"{root} (also accepted there: {', '.join(cifar100.SOURCES[1:])})")
        x8, y8 = _cached_cifar100(source.resolve(), custom.file_stamp(source))["test" if split == "test"
                                                                              else "train"]
    else:
        prefix = "t10k" if split == "test" else "train"
        x8, y8 = _read_idx_pair(name, root, prefix)
        x8 = x8[:, None]  # grey images: one channel
    if split in ("train", "val"):
        x8, y8 = _holdout(name, x8, y8, split, val_fraction)
        _check_held_out(name, len(y8), split)

    # astype copies, so the tensors own writable memory and the cached arrays stay untouched.
    x = torch.from_numpy(x8.astype(np.float32)).div_(255.0)
    y = torch.from_numpy(y8.astype(np.int64))
    return Dataset(x, y, name, split, cifar100.NUM_CLASSES if name == "cifar100" else _NUM_CLASSES)


def read_for(data: Dataset, task: str) -> Dataset:
    """``data`` as a method for ``task`` reads it: whole-number targets of a user's set, which
    reading alone takes for class labels (`custom.as_targets`), are real values to a regression
    method. A built-in set stays as it is (the session refuses it for a regression method)."""
    if task != "regression" or data.task == "regression" or data.name in DATASETS:
        return data
    return Dataset(data.x, data.y.float(), data.name, data.split, 0)


def absolute_dataset(ref: str, data_dir: str | Path | None = None) -> str:
    """A built-in name as it is; a path to a user's data set made absolute, so that a run's
    config finds it from any working directory."""
    if ref in DATASETS or ref == NO_DATA:
        return ref
    path = custom.resolve_path(ref, data_dir)
    return str(path) if path is not None else ref


def _custom(ref: str, split: str, data_dir: str | Path | None, val_fraction: float | None,
            val_pick: str) -> Dataset:
    """One split of a user's data set at path ``ref`` (as given, or inside ``data_dir``)."""
    path = custom.resolve_path(ref, data_dir)
    if path is None:
        looked = f" (also looked in {data_dir})" if data_dir else ""
        moved = (f"; if it moved, give the folder now holding {Path(ref).name} with --data-dir"
                 if Path(ref).is_absolute() and not data_dir else "")  # a run's recorded path
        raise DataError(f"unknown dataset {ref!r}: neither a built-in ({', '.join(DATASETS)}) nor an "
                        f"existing path{looked}{moved}")
    name = custom.dataset_name(path)
    if split not in _FULL_SPLITS:
        raise DataError(f"unknown split {split!r} for dataset {name!r}; expected one of "
                        f"{', '.join(_FULL_SPLITS)}")
    parts = custom.read_custom(path)
    # Classes from every label the source holds, so train and test agree on the count; real
    # targets in any split make it a regression set (no classes).
    if any(y.is_floating_point() for _, y in parts.values()):
        num_classes = 0
        parts = {k: (x, y.float()) for k, (x, y) in parts.items()}
    else:
        num_classes = max(int(y.max()) + 1 if len(y) else 0 for _, y in parts.values())
    source = "test" if split == "test" else "train"
    if source not in parts:
        hint = (" (score other examples: evaluate's --split val, or Run.evaluate(x, y))"
                if source == "test" else "")
        raise DataError(f"dataset {name!r} ({path}) has no {source} split{hint}; it holds only "
                        f"{', '.join(parts)}")
    x, y = parts[source]
    if not len(y):
        raise DataError(f"dataset {name!r} ({path}): its {source} split has no examples")
    if split in ("train", "val"):
        keep = own_holdout(name, len(y), val_fraction, val_pick)[split == "val"]
        x, y = x[keep], y[keep]
        _check_held_out(name, len(y), split)
    # Copies, so callers cannot alter the cached tensors.
    return Dataset(x.clone(), y.clone(), name, split, num_classes)


def lacks_test_split(ref: str, data_dir: str | Path | None) -> Path | None:
    """The path of a user's .npz at ``ref`` that holds no test split (evaluate and report will
    need one), else None (a built-in set, or a set with its test split)."""
    if ref in DATASETS or ref == NO_DATA:
        return None
    path = custom.resolve_path(ref, data_dir)
    if path is None or path.suffix.lower() != ".npz" or not path.is_file():
        return None
    return path if "test" not in custom.read_custom(path) else None


def own_holdout(name: str, n: int, val_fraction: float | None, val_pick: str
                ) -> tuple[torch.Tensor | slice, torch.Tensor | slice]:
    """Training and validation examples (`holdout`) of a user's set ``name`` of ``n``:
    ``val_fraction`` of them (default 1/10) held out as ``val_pick`` says."""
    return holdout(n, _n_val(name, n, 0.1 if val_fraction is None else val_fraction), val_pick)


def _check_held_out(name: str, n: int, split: str) -> None:
    if split == "val" and n == 0:
        raise DataError(f"dataset {name!r} has no validation examples: data.val_fraction is 0 (every "
                        "training example trains; this run validated on its test split)")


def _n_val(name: str, n: int, fraction: float) -> int:
    if fraction == 0:  # none held out: the run validates on the test split (`DataConfig`)
        return 0
    n_val = int(n * fraction)
    if n_val == 0 or n_val == n:
        # The way on in one line: the two settings took two tries, each refused in turn.
        raise DataError(f"dataset {name!r}: {n} training examples are too few to hold out a "
                        f"validation fraction of {fraction:g}: raise data.val_fraction, or hold none "
                        "out (data.val_fraction: 0 with data.val_split: test, which needs a test split)")
    return n_val


def _variant(name: str, split: str, data_dir: str | Path | None, val_fraction: float | None) -> Dataset:
    base, classes, train_limit = _VARIANTS[name]
    d = load_dataset(base, split, data_dir, val_fraction)
    x, y, num_classes = d.x, d.y, d.num_classes
    if classes is not None:
        keep = torch.isin(y, torch.tensor(classes))
        x, y, num_classes = x[keep], y[keep] - min(classes), len(classes)
    if train_limit is not None and split == "train":
        x, y = x[:train_limit], y[:train_limit]
    return Dataset(x, y, name, split, num_classes)


def _holdout(name: str, x: np.ndarray, y: np.ndarray, split: str, val_fraction: float | None
             ) -> tuple[np.ndarray, np.ndarray]:
    n = len(y)
    if val_fraction is not None:
        n_train = n - _n_val(name, n, val_fraction)
    else:
        n_train = n - n // _VAL_DIVISOR[name]
        if n_train == n:
            raise DataError(
                f"dataset {name!r}: {n} training examples are too few to hold out a validation split"
            )
    return (x[:n_train], y[:n_train]) if split == "train" else (x[n_train:], y[n_train:])


def _find_idx(name: str, folders: list[Path], stem: str) -> Path:
    for folder in folders:
        for candidate in idx_candidates(folder, stem):
            if candidate.is_file():
                return candidate
    alternatives = ", ".join(p.name for p in idx_candidates(folders[0], stem)[1:])
    elsewhere = "".join(f"; also looked in {f}" for f in folders[1:])
    raise DataError(
        f"dataset {name!r}: missing file {folders[0] / (stem + '.gz')} "
        f"(also accepted: {alternatives}{elsewhere})"
    )


def _read_idx_pair(name: str, root: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, H, W) and labels (n,) for ``<prefix>-images/labels`` of an IDX data set."""
    images_path = _find_idx(name, [root / _SUBDIR[name], root], f"{prefix}-images-idx3-ubyte")
    # Labels must come from the images' own folder, never a look-alike elsewhere.
    labels_path = _find_idx(name, [images_path.parent], f"{prefix}-labels-idx1-ubyte")
    images = _cached_idx(images_path.resolve(), custom.file_stamp(images_path), name, 3)
    labels = _cached_idx(labels_path.resolve(), custom.file_stamp(labels_path), name, 1)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    if labels.size and int(labels.max()) >= _NUM_CLASSES:
        raise DataError(f"{labels_path}: label {int(labels.max())} out of range 0-9")
    return images, labels


@lru_cache(maxsize=8)
def _cached_idx(path: Path, stamp: tuple, name: str, ndim: int) -> np.ndarray:
    verify_known(path, f"{name}/{path.name}")
    return read_idx(path, ndim)


@lru_cache(maxsize=1)
def _cached_cifar(source: Path, stamp: tuple) -> dict[str, cifar.Arrays]:
    return cifar.read_cifar10(source)


@lru_cache(maxsize=1)
def _cached_cifar100(source: Path, stamp: tuple) -> dict[str, cifar.Arrays]:
    return cifar100.read_cifar100(source)

"""A user's own data set, named by path: a folder of IDX files, a CIFAR-format folder or archive,
or an ``.npz`` file with ``x_train, y_train, x_test, y_test``.

Any image size and any number of classes (``max label + 1``). Each reader returns the splits the
source holds, ``{"train": (x, y), "test": (x, y)}``, with x float32 ``(n, C, H, W)`` in [0, 1]
for 8-bit sources (floats are kept as given) and y int64 ``(n,)``. An ``.npz`` may also hold
feature vectors ``(n, D)``, and real-valued targets: a floating-point y with any non-integer value
is a regression set (y float32; whole numbers from 0 are read as class labels, and as values by
a regression method: ``method.task: regression``).
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hyperzoo.data import cifar
from hyperzoo.data.base import DataError
from hyperzoo.data.checksums import verify_known
from hyperzoo.data.idx import idx_candidates, read_idx
from hyperzoo.notes import note

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]
FORMATS = ("a folder of IDX files (train-/t10k-images-idx3-ubyte and -labels-idx1-ubyte, gz or raw)",
           "a CIFAR-format folder (data_batch_N, test_batch; binary or python) or archive",
           "an .npz file with x_train, y_train, x_test, y_test")
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_CIFAR_ARCHIVES = (".tar.gz", ".tgz", ".tar")


def resolve_path(ref: str, data_dir: str | Path | None = None) -> Path | None:
    """The file or folder ``ref`` names (as given, else inside ``data_dir``), or None. An
    absolute path that no longer exists (a run's data, moved) is also looked for by its last
    component inside ``data_dir``."""
    given = Path(ref).expanduser()
    candidates = [Path(".") / given, *([Path(data_dir).expanduser() / given] if data_dir else [])]
    if data_dir and given.is_absolute():  # only in data_dir: never a same-named file here
        candidates.append(Path(data_dir).expanduser() / given.name)
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    return None


def dataset_name(path: Path) -> str:
    """A data set's own name: the folder's name or the file's stem (``mydata.npz`` → mydata)."""
    name = path.name
    for suffix in (".npz", *_CIFAR_ARCHIVES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_custom(path: Path) -> Splits:
    """Every split found at ``path`` (cached until the files change)."""
    return _cached(path, file_stamp(path))


def file_stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, mtimes and sizes: a cache key part that changes when the files on disk do."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())


def file_sha256(path: Path) -> str:
    """SHA-256 of a data file's bytes (computed once while its names, times and sizes hold): a
    run records it, to know its data file again."""
    return _sha256(Path(path).resolve(), file_stamp(Path(path)))


def data_sha256(path: Path) -> str | None:
    """What a run records of its data to know it again (``data.sha256``): a file's SHA-256, or
    for a folder the SHA-256 of its data files' names and SHA-256s (the files its reader reads,
    so other files may come and go); None for a folder that holds no data set."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    files = data_files(path)
    if not files:
        return None
    return hashlib.sha256("".join(f"{f.name}\0{file_sha256(f)}\n" for f in files).encode()).hexdigest()


def tensors_sha256(*tensors: torch.Tensor) -> str:
    """What a run records of data kept in memory only (``data.sha256``): the SHA-256 of the
    tensors' dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(f"{t.dtype}{tuple(t.shape)}\n".encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().data)
    return h.hexdigest()


def data_files(folder: Path) -> list[Path]:
    """The files the reader of a data folder reads (IDX or CIFAR batches), in order."""
    if _has_idx(folder):
        found = ([c for c in idx_candidates(folder, f"{prefix}-{kind}-idx{ndim}-ubyte") if c.is_file()]
                 for prefix in _IDX_PREFIX.values() for kind, ndim in (("images", 3), ("labels", 1)))
        return [files[0] for files in found if files]
    if _has_cifar(folder):  # each batch's first name that exists, as `cifar.read_batches` reads
        found = ([f for ext in (".bin", "") if (f := folder / f"{stem}{ext}").is_file()]
                 for stem in (*_train_batches(folder), *cifar.TEST_BATCHES))
        return [files[0] for files in found if files]
    return []


@lru_cache(maxsize=16)
def _sha256(path: Path, stamp: tuple) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=4)
def _cached(path: Path, stamp: tuple) -> Splits:
    if path.is_file() and path.suffix.lower() == ".npz":
        splits = _read_npz(path)
    elif path.is_file() and path.name.endswith(_CIFAR_ARCHIVES):
        splits = {k: _from_uint8(x, y) for k, (x, y) in cifar.read_cifar10(path).items()}
    elif path.is_dir() and _has_idx(path):
        splits = _read_idx_folder(path)
    elif path.is_dir() and _has_cifar(path):
        splits = _read_cifar_folder(path)
    else:
        raise DataError(f"{path} is not a data set; expected {'; '.join(FORMATS)}")
    if not splits:
        raise DataError(f"{path} holds no train or test split; expected {'; '.join(FORMATS)}")
    shapes = {split: tuple(x.shape[1:]) for split, (x, _) in splits.items()}
    if len(set(shapes.values())) > 1:
        # Trained, then refused by evaluate (or a traceback with data.val_split: test): the test
        # split must take the same inputs.
        raise DataError(f"{path}: its train split holds examples of shape {shapes['train']}, its test "
                        f"split {shapes['test']}")
    return splits


def _from_uint8(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    # astype copies: the tensors own writable memory, cached reader arrays stay untouched.
    return (torch.from_numpy(x.astype(np.float32)).div_(255.0),
            torch.from_numpy(y.astype(np.int64)))


def _has_idx(folder: Path) -> bool:
    return any(c.is_file() for p in _IDX_PREFIX.values()
               for c in idx_candidates(folder, f"{p}-images-idx3-ubyte"))


def _read_idx_folder(folder: Path) -> Splits:
    out: Splits = {}
    for split, prefix in _IDX_PREFIX.items():
        found = {}
        for kind, ndim in (("images", 3), ("labels", 1)):
            files = [c for c in idx_candidates(folder, f"{prefix}-{kind}-idx{ndim}-ubyte") if c.is_file()]
            if files:
                # A folder named like a known data set (mnist/) keeps its checksums.
                verify_known(files[0], f"{folder.name}/{files[0].name}")
                found[kind] = (files[0], read_idx(files[0], ndim))
        if "images" in found and "labels" not in found:
            raise DataError(f"{found['images'][0]} has no labels file "
                            f"{folder / (prefix + '-labels-idx1-ubyte')} (or .gz) beside it")
        if "images" in found:
            (ipath, images), (lpath, labels) = found["images"], found["labels"]
            if len(images) != len(labels):
                raise DataError(f"{ipath} has {len(images)} images but {lpath} has {len(labels)} labels")
            out[split] = _from_uint8(images[:, None], labels)
    return out


def _has_cifar(folder: Path) -> bool:
    return any((folder / f"{s}{ext}").is_file()
               for s in (*cifar.TRAIN_BATCHES, *cifar.TEST_BATCHES) for ext in (".bin", ""))


def _train_batches(folder: Path) -> tuple[str, ...]:
    """Every ``data_batch_N`` in ``folder``, in order of N: a folder of your own may hold more
    than CIFAR-10's five (batches 6 and on were dropped without a word)."""
    numbers = set()
    for f in folder.glob("data_batch_*"):
        number = f.name.removeprefix("data_batch_").removesuffix(".bin")
        if number.isdigit() and f.is_file():
            numbers.add(int(number))
    return tuple(f"data_batch_{n}" for n in sorted(numbers))


def _read_cifar_folder(folder: Path) -> Splits:
    train = _train_batches(folder)
    # CIFAR-10's checksums only for a folder named as its copies are: a batch of 10,000 records
    # of your own has their size, and was refused as "corrupt".
    known = f"{folder.name}/" in cifar.SOURCES
    batches = cifar.read_batches(folder, train + cifar.TEST_BATCHES, known=known)
    out: Splits = {}
    for split, stems in (("train", train), ("test", cifar.TEST_BATCHES)):
        # A folder of your own may hold any number of classes a label byte can name.
        parts = [cifar.parse_batch(*batches[s], f"{folder}/{batches[s][0]}", num_classes=256)
                 for s in stems if s in batches]
        if parts:
            out[split] = _from_uint8(np.concatenate([p[0] for p in parts]),
                                     np.concatenate([p[1] for p in parts]))
    return out


def unlabelled_test_images(path: Path) -> torch.Tensor | None:
    """The test images of an outlier set that holds nothing else (detection reads no labels),
    else None: an .npz's ``x_test`` without ``y_test`` or training arrays (read as `_read_npz`
    reads any .npz), or an IDX folder's ``t10k-images`` without labels or training files."""
    if path.is_dir():
        return _unlabelled_idx_images(path)
    if path.suffix.lower() != ".npz":
        return None
    try:  # the member names alone first: a labelled set is read once, by load_dataset
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy") for n in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        names = {"x_test"}  # unreadable: `_npz_arrays` says why
    if names - {"input_shape"} != {"x_test"}:
        return None
    arrays = _npz_arrays(path)
    if set(arrays) - {"input_shape"} != {"x_test"}:
        return None
    return as_images(arrays["x_test"], f"{path}:x_test", _input_shape(path, arrays))


def _unlabelled_idx_images(folder: Path) -> torch.Tensor | None:
    def present(stem: str) -> list[Path]:
        return [c for c in idx_candidates(folder, stem) if c.is_file()]

    images = present("t10k-images-idx3-ubyte")
    if not images or any(present(s) for s in ("t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
                                              "train-labels-idx1-ubyte")):
        return None
    verify_known(images[0], f"{folder.name}/{images[0].name}")
    return _from_uint8(read_idx(images[0], 3)[:, None], np.zeros(0, np.int64))[0]


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip's first record, or an empty zip's end
        # np.load read an .npy under this name as an array (a TypeError later) and text as
        # "pickled data", inviting an unsafe load.
        raise DataError(f"{path}: not an .npz file (a zip archive; an .npy array? save your arrays with "
                        "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...))")
    try:
        # allow_pickle=False: an .npz of object arrays would run code when loaded.
        # Our own file handle: np.load leaks the one it opens when the zip is unreadable.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}  # each member read (and its CRC checked) here
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from e
    return arrays


def _input_shape(path: Path, arrays: dict[str, np.ndarray]) -> tuple[int, ...] | None:
    # An optional input_shape (one example's shape) takes inputs as they are, e.g. sequences
    # (n, C, L) for a Conv1d, which would otherwise be guessed to be images (n, H, W).
    if "input_shape" not in arrays:
        return None
    dims = np.atleast_1d(arrays["input_shape"])
    if dims.ndim != 1 or dims.dtype.kind not in "iu" or (dims < 1).any():
        raise DataError(f"{path}: input_shape must list one example's sizes as positive integers, "
                        f"got {arrays['input_shape']!r}")
    return tuple(int(d) for d in dims)


def _read_npz(path: Path) -> Splits:
    arrays = _npz_arrays(path)
    shape = _input_shape(path, arrays)
    out: Splits = {}
    for split in ("train", "test"):
        xk, yk = f"x_{split}", f"y_{split}"
        if (xk in arrays) != (yk in arrays):
            raise DataError(f"{path}: has {xk if xk in arrays else yk} without "
                            f"{yk if xk in arrays else xk}")
        if xk in arrays:
            out[split] = (as_images(arrays[xk], f"{path}:{xk}", shape),
                          as_targets(arrays[yk], f"{path}:{yk}"))
            if len(out[split][0]) != len(out[split][1]):
                raise DataError(f"{path}: {xk} has {len(out[split][0])} examples but {yk} has "
                                f"{len(out[split][1])}")
    if not out:
        raise DataError(f"{path}: expected arrays x_train, y_train, x_test, y_test (an outlier set: x_test "
                        f"alone); found {', '.join(arrays) or 'none'}")
    if "x_train" in arrays and "x_test" in arrays:
        same_scaling(arrays["x_train"], arrays["x_test"], f"{path}: x_train", "x_test")
    shapes = {split: tuple(x.shape[1:]) for split, (x, _) in out.items()}
    if shape is not None and any(s != shape for s in shapes.values()):
        # Its layout would otherwise be guessed, without a word, from x's shape alone. Named as
        # stored too: the guessed shape alone ((1, 2, 20) for (2, 20) sequences) is not in the file.
        split = next(s for s, v in shapes.items() if v != shape)
        raise DataError(f"{path}: input_shape {shape} is not the examples' shape {shapes[split]} (x_{split} "
                        f"is stored as {tuple(arrays['x_' + split].shape)})")
    return out


def _within_0_1(v: np.ndarray | torch.Tensor) -> bool:
    """Whether every value lies in [0, 1] (an empty array's do; so do NaN and infinity here: the
    finiteness check names them, not a difference of scale)."""
    t = _cpu_tensor(v, "inputs")
    if t.is_floating_point():
        t = t[t.isfinite()]
    if not t.numel() or t.dtype == torch.bool:
        return True
    lo, hi = torch.aminmax(t)
    return float(lo) >= 0 and float(hi) <= 1


# Largest values of two splits further apart than this are noted (`same_scaling`).
SCALE_RATIO = 8.0


def _largest(v: np.ndarray | torch.Tensor) -> float:
    """The largest magnitude in an array or tensor (0 for an empty or boolean one), read in its
    own dtype and without a copy (`abs` of MNIST's training images would make one of 188 MB)."""
    t = _cpu_tensor(v, "inputs")  # negative strides, wide unsigned and big-endian arrays too
    if not t.numel() or t.dtype == torch.bool or t.is_complex():
        return 0.0
    lo, hi = torch.aminmax(t)
    return max(abs(float(lo)), abs(float(hi)))


def same_scaling(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, what: str, other: str) -> None:
    """Raise `DataError` where one of two splits is uint8 and the other holds floats outside [0, 1]:
    uint8 is scaled to [0, 1] and floats are kept, so the same pixels would come in on two
    scales, without a word (floats already in [0, 1] meet the scaled uint8 there)."""
    da, db = (v.dtype if hasattr(v, "dtype") else np.asarray(v).dtype for v in (a, b))  # lists too
    bytes_a, bytes_b = (str(d) in ("uint8", "torch.uint8") for d in (da, db))
    if bytes_a != bytes_b and not _within_0_1(b if bytes_a else a):
        raise DataError(f"{what} is {da} but {other} is {db}: uint8 images are scaled to "
                        "[0, 1] and floats kept as given, so the two would differ in scale; give both the "
                        "same dtype")
    # Floats on two scales (a /255 or /16 forgotten on one split) passed without a word.
    ra, rb = _largest(a), _largest(b)
    floats = not (bytes_a or bytes_b)  # uint8 is scaled to [0, 1]
    if floats and min(ra, rb) > 0 and max(ra, rb) / min(ra, rb) > SCALE_RATIO:
        note(f"{what} reaches {ra:g} but {other} {rb:g}: one of them scaled differently? they are "
             "used as given")


def _cpu_tensor(a: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    """An array or tensor as a CPU tensor: data sets stay on the CPU and are moved batch by
    batch (a user's CUDA tensors too: metrics compare them with CPU predictions). Arrays must
    hold booleans or numbers; other byte orders are converted, and unsigned integers wider than
    a byte become int64 (torch has few operations for them)."""
    if isinstance(a, torch.Tensor):
        t = a.detach().cpu()
        return t.long() if t.dtype in (torch.uint16, torch.uint32, torch.uint64) else t
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: expected an array of numbers, got dtype {arr.dtype}")
    if any(s < 0 for s in arr.strides):  # x[..., ::-1] (BGR to RGB): torch takes no negative strides
        arr = np.ascontiguousarray(arr)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
        arr = arr.astype(np.int64)
    return torch.as_tensor(arr)


def as_images(x: np.ndarray | torch.Tensor, what: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Inputs as float32 ``(n, *shape)``: uint8 is scaled to [0, 1], floats are kept, and every
    value must be finite. Inputs whose example shape is ``shape`` (the target's, where known) are
    taken as they are, whatever their rank (sequences ``(n, C, L)`` for a Conv1d, volumes).
    Otherwise the layout is guessed: ``(n, H, W)`` gains one channel, ``(n, H, W, C)`` with C of 1
    to 4 (and a second axis above 4) is transposed, feature vectors ``(n, D)`` stay as they are."""
    given = getattr(x, "dtype", None)  # before _cpu_tensor widens uint16 to int64: the message names it
    t = _cpu_tensor(x, what)
    if shape is None or tuple(t.shape[1:]) != tuple(shape):
        if t.dim() == 3:
            t = t[:, None]
        elif t.dim() == 4 and t.shape[-1] in (1, 2, 3, 4) and t.shape[1] not in (1, 2, 3, 4):
            # RGBA and two-channel images too: (n, 16, 16, 4) was read as 16 channels of 16 × 4.
            t = t.permute(0, 3, 1, 2)
        if t.dim() not in (2, 4):
            raise DataError(f"{what}: inputs must be images (n, H, W) or (n, C, H, W), or features (n, D) "
                            f"(other layouts with the target's input_shape); got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        top = int(t.max()) if t.numel() else 0
        source = what.rsplit(":", 1)[0]
        if 0 < top < 32 and source not in _noted_scale:
            # Token ids or category codes as uint8 trained on their 255ths (0-19 became 0-0.075),
            # without a word: pixels reach 255, or at least far above 32.
            _noted_scale.add(source)
            note(f"{what}: {UINT8_SCALED} (÷255), and these reach only {top} "
                 f"(so {top / 255:.3f}); if they are codes or counts, not pixels, give them as floats")
        return t.float().div_(255.0).contiguous()
    if not t.is_floating_point():
        raise DataError(f"{what}: inputs must be floating point (or uint8 pixels, scaled to [0, 1]), got "
                        f"{given or t.dtype}; give integer features or codes as floats (x.float())")
    # Checked in float32, what training reads: a float64 1e39 is finite, its float32 infinite.
    t = t.float()
    if not bool(t.isfinite().all()):
        bad = int((~t.isfinite()).flatten(1).any(1).nonzero()[0])
        raise DataError(f"{what}: inputs must be finite in float32; example {bad} holds NaN or infinity "
                        "(or a value beyond ±3.4e38)")
    source = what.rsplit(":", 1)[0]  # once per file, not per array in it
    if t.dim() == 4 and source not in _noted_scale and unscaled_pixels(t):
        # Float pixels saved at 0-255: kept as given, they reach a standardising target (CIFAR's
        # means and deviations assume [0, 1]) at 255 times the scale, without a word.
        _noted_scale.add(source)
        note(f"{what}: float images with values up to {float(t.max()):g} are kept as given "
             "(uint8 images are scaled to [0, 1]); if they are 0-255 pixels, divide them by 255")
    return t.contiguous()


_noted_scale: set[str] = set()
# The uint8 note's words (fit says it itself: the file it keeps holds floats, read without it).
UINT8_SCALED = "uint8 inputs are scaled to [0, 1] as pixels"


def unscaled_pixels(x: torch.Tensor) -> bool:
    """Whether float images look like pixels on a 0-255 (or larger) scale: none negative and
    some above 50 (standardised data has negative values; scaled pixels stay within [0, 1]).
    Whole numbers or not: resized or averaged pixels at 0-255 trained at chance unremarked."""
    return (bool(x.numel()) and x.is_floating_point() and float(x.min()) >= 0
            and float(x.max()) > 50)


def as_targets(y: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    """Class labels (int64, see `as_labels`), or real-valued regression targets (float32
    ``(n,)``) where y holds any non-integer or negative value (whole numbers from 0 are read as
    labels; a regression method reads them as values, `registry.read_for`)."""
    t = _cpu_tensor(y, what)
    if t.is_floating_point() and t.dim() == 2 and t.shape[1] == 1:
        t = t[:, 0]  # one real target per example, as (n, 1)
    _check_finite_targets(t, what)
    if _signed(t) and t.dim() == 1 and t.numel() and int(t.min()) < 0:
        t = t.double()  # negative integers are no class labels: values (float32 below)
    if t.is_floating_point() and t.dim() == 1 and not bool(((t == t.round()) & (t >= 0)).all()):
        t = t.float()  # checked as training reads them (a float64 1e39 is infinite in float32)
        if not bool(t.isfinite().all()):
            raise DataError(f"{what}: regression targets must be finite in float32 (NaN, infinity or "
                            "a value beyond ±3.4e38 found)")
        return t.contiguous()
    return as_labels(t, what)


def _check_finite_targets(t: torch.Tensor, what: str, expected: str = "targets must be finite (class "
                          "indices, or real values for regression)") -> None:
    """Refuse NaN or infinity among targets, naming the first example: a NaN among whole-number
    labels was taken for a regression target ("regression targets must be finite")."""
    if t.is_floating_point() and t.dim() >= 1 and t.numel() and not bool(t.isfinite().all()):
        bad = (~t.isfinite()).flatten(1).any(1) if t.dim() > 1 else ~t.isfinite()
        i = int(bad.nonzero()[0, 0])
        raise DataError(f"{what}: example {i} is {t[i].tolist()}; {expected}")


def _signed(t: torch.Tensor) -> bool:
    return not t.is_floating_point() and t.dtype != torch.bool and t.is_signed()


def as_labels(y: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    """Class indices as int64 ``(n,)`` (or ``(n, 1)``, as a column); each must be a non-negative
    integer."""
    t = _cpu_tensor(y, what)
    if t.dim() == 2 and t.shape[1] == 1:  # a column of labels, as real targets (n, 1) are taken
        t = t[:, 0]
    if t.is_floating_point():
        _check_finite_targets(t, what, "labels must be finite class indices")
    if t.is_floating_point() and t.numel() and float(t.abs().max()) >= 2**53:
        # Beyond int64 it wrapped round, and was called a negative label.
        raise DataError(f"{what}: labels must be class indices 0, 1, …; found {float(t.abs().max()):g}")
    if t.is_floating_point() and bool((t == t.round()).all()):
        t = t.long()
    if t.dim() == 2 and t.shape[1] > 1 and t.is_floating_point() and not bool(((t == 0) | (t == 1)).all()):
        # Real values, several per example: not labels, and regression takes one.
        raise DataError(f"{what}: targets must be one value per example, class indices (n,) or one real "
                        f"value for regression (n,) or (n, 1); got {tuple(t.shape)} (several outputs per "
                        "example are not supported)")
    if t.dim() != 1 or t.is_floating_point() or t.dtype == torch.bool:
        onehot = (t.dim() == 2 and t.numel() > 0 and bool(((t == 0) | (t == 1)).all())
                  and bool((t.sum(1) == 1).all()))
        raise DataError(f"{what}: labels must be integer class indices of shape (n,), "
                        f"got {t.dtype} {tuple(t.shape)}"
                        + ("; these look one-hot: pass their argmax along axis 1" if onehot else ""))
    if t.numel() and int(t.min()) < 0:
        raise DataError(f"{what}: label {int(t.min())} is negative; expected class indices 0, 1, …")
    return t.long()

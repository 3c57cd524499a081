"""Writers of tiny synthetic data files in the official formats."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    """``write_idx(path, arr)``: an IDX file, gzipped when the name ends in .gz."""

    def write(path: Path, arr: np.ndarray) -> Path:
        data = idx_bytes(arr)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
        return path

    return write


@pytest.fixture
def mnist_arrays() -> Callable[[int, int], tuple[np.ndarray, np.ndarray]]:
    """``mnist_arrays(n, seed)``: random (n, 28, 28) uint8 images and (n,) labels 0-9."""

    def make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        return images, rng.integers(0, 10, size=n, dtype=np.uint8)

    return make


@pytest.fixture
def write_mnist(write_idx, mnist_arrays) -> Callable[..., dict[str, tuple[np.ndarray, ...]]]:
    """``write_mnist(folder, n_train, n_test, suffix)``: a fake MNIST folder; returns its arrays."""

    def write(
        folder: Path, n_train: int = 60, n_test: int = 12, suffix: str = ".gz"
    ) -> dict[str, tuple[np.ndarray, ...]]:
        out = {}
        for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
            if n == 0:
                continue
            images, labels = mnist_arrays(n, seed)
            write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
            write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
            out[prefix] = (images, labels)
        return out

    return write


def cifar_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    return x, rng.integers(0, 10, size=n, dtype=np.uint8)


def bin_records(x: np.ndarray, y: np.ndarray) -> bytes:
    # (3, 32, 32) in C order is the official layout: R plane, G plane, B plane, each row-major.
    return b"".join(bytes([int(label)]) + img.tobytes() for img, label in zip(x, y, strict=True))


def py_batch(x: np.ndarray, y: np.ndarray) -> bytes:
    # Protocol 2 with bytes keys, like the official Python 2 pickles.
    obj = {
        b"batch_label": b"synthetic",
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), -1),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(x))],
    }
    return pickle.dumps(obj, protocol=2)


BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture
def cifar_data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Six tiny batches: 2 records in each train batch, 3 in the test batch."""
    return {b: cifar_batch(3 if b == "test_batch" else 2, seed) for seed, b in enumerate(BATCHES)}


@pytest.fixture
def cifar_files(cifar_data) -> Callable[[str], dict[str, bytes]]:
    """``cifar_files(version)``: member path -> content of ``cifar_data`` in the official archive
    layout of ``version`` ("bin" or "py")."""

    def files(version: str) -> dict[str, bytes]:
        items = cifar_data.items()
        if version == "bin":
            return {f"cifar-10-batches-bin/{b}.bin": bin_records(*xy) for b, xy in items}
        return {f"cifar-10-batches-py/{b}": py_batch(*xy) for b, xy in items}

    return files


@pytest.fixture
def write_tar() -> Callable[[Path, dict[str, bytes]], Path]:
    """``write_tar(path, {member: content})``: a gzipped tar archive."""

    def write(path: Path, files: dict[str, bytes]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:gz") as tar:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        return path

    return write


@pytest.fixture
def write_tree() -> Callable[[Path, dict[str, bytes]], Path]:
    """``write_tree(root, {relative path: content})``: files on disk, as if extracted."""

    def write(root: Path, files: dict[str, bytes]) -> Path:
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        return root

    return write

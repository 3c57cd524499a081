"""Checksums of the official data files, and verification against them.

A file is checked when its name *and size* match a known file. A same-named file of another size
is taken to be a different copy (say, a sub-sampled one) and accepted unverified: the format
readers still validate its structure, and truncation is caught there. Files not in the table
(uncompressed IDX, extracted folders of unknown archives) are accepted unverified too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from hyperzoo.data.base import DataError


class KnownSum(NamedTuple):
    """Expected digest of a file with a known name and size."""

    algo: str
    digest: str
    size: int


# Keyed by "<dataset>/<file name>": MNIST and notMNIST share file names but not contents.
# MNIST: the official files. notMNIST-small: the 10k IDX sample this project distributes.
# CIFAR-10 binary: the official batch files, checked one by one so that both the official archive
# and a repack of it (or the extracted folder) verify. CIFAR-10 python: only the official archive's
# md5 is published.
KNOWN_SUMS: dict[str, KnownSum] = {
    "mnist/train-images-idx3-ubyte.gz": KnownSum(
        "sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422
    ),
    "mnist/train-labels-idx1-ubyte.gz": KnownSum(
        "sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881
    ),
    "mnist/t10k-images-idx3-ubyte.gz": KnownSum(
        "sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877
    ),
    "mnist/t10k-labels-idx1-ubyte.gz": KnownSum(
        "sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542
    ),
    "notmnist/t10k-images-idx3-ubyte.gz": KnownSum(
        "sha256", "70ae9e06201f2827e5b0a3781a3169d735dd2efc69996b9eeaee7f10ed4044d7", 3172375
    ),
    "notmnist/t10k-labels-idx1-ubyte.gz": KnownSum(
        "sha256", "1fa03836e01c862542f8eb83463bb951bebec6fcb3efa28dad748c6b38a9021b", 5118
    ),
    "cifar10/data_batch_1.bin": KnownSum("md5", "5dd7e06a14cb22eb9f671a540d1b7c25", 30730000),
    "cifar10/data_batch_2.bin": KnownSum("md5", "5ea93a67294ea407fff1d09f752e9692", 30730000),
    "cifar10/data_batch_3.bin": KnownSum("md5", "942cd6a4bcdd0dd3c604fbe906cb4421", 30730000),
    "cifar10/data_batch_4.bin": KnownSum("md5", "ae636b3ba5c66a11e91e8cb52e771fcb", 30730000),
    "cifar10/data_batch_5.bin": KnownSum("md5", "53f37980c15c3d472c316c40844f3f0d", 30730000),
    "cifar10/test_batch.bin": KnownSum("md5", "803d5f7f4d78ea53de84dbe85f74fb6d", 30730000),
    "cifar10/cifar-10-python.tar.gz": KnownSum(
        "md5", "c58f30108f718f92721af3b95e74349a", 170498071
    ),
    # CIFAR-100: only the python archive's md5 is published with the data set (the binary version
    # is read unverified; its records are still validated).
    "cifar100/cifar-100-python.tar.gz": KnownSum(
        "md5", "eb9058c3a382ffc7106e4002c42a8d85", 169001437
    ),
}

_CHUNK = 1 << 20


def hash_file(path: str | Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file."""
    return hash_file(path, "sha256")


def _mismatch(what: str, algo: str, expected: str, got: str) -> DataError:
    return DataError(
        f"{what}: checksum mismatch (expected {algo} {expected[:16]}…, got {got[:16]}…); "
        "the file is corrupt or not the expected file"
    )


def verify(path: str | Path, expected_sha256: str, algo: str = "sha256") -> None:
    """Raise DataError unless the file's digest (SHA-256 by default) is ``expected_sha256``."""
    got = hash_file(path, algo)
    if got != expected_sha256.lower():
        raise _mismatch(str(path), algo, expected_sha256, got)


def verify_known(path: Path, key: str) -> None:
    """Verify ``path`` against ``KNOWN_SUMS[key]`` when that entry applies to it (same size)."""
    known = KNOWN_SUMS.get(key)
    if known is not None and path.stat().st_size == known.size:
        verify(path, known.digest, known.algo)


def verify_known_bytes(data: bytes, key: str, what: str) -> None:
    """``verify_known`` for content in memory (e.g. a tar member); ``what`` names it."""
    known = KNOWN_SUMS.get(key)
    if known is not None and len(data) == known.size:
        got = hashlib.new(known.algo, data).hexdigest()
        if got != known.digest:
            raise _mismatch(what, known.algo, known.digest, got)

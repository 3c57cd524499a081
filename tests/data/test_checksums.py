import hashlib
import re

import numpy as np
import pytest

from hyperzoo.data import DataError, load_dataset
from hyperzoo.data import checksums as cs
from hyperzoo.data.checksums import KnownSum, sha256_file, verify, verify_known


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1_000_000)
    assert sha256_file(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_verify_accepts_the_right_sum(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    verify(path, hashlib.sha256(b"data").hexdigest().upper())
    verify(path, hashlib.md5(b"data").hexdigest(), algo="md5")


def test_verify_mismatch_message(tmp_path):
    path = tmp_path / "f.gz"
    path.write_bytes(b"data")
    with pytest.raises(DataError) as e:
        verify(path, "ab" * 32)
    msg = str(e.value)
    assert msg.startswith(f"{path}: checksum mismatch (expected sha256 abababab")
    assert "the file is corrupt or not the expected file" in msg and "\n" not in msg


def test_known_table_is_well_formed():
    lengths = {"sha256": 64, "md5": 32}
    for key, known in cs.KNOWN_SUMS.items():
        assert re.fullmatch(r"(mnist|notmnist|cifar10|cifar100)/[\w.-]+", key)
        assert re.fullmatch(rf"[0-9a-f]{{{lengths[known.algo]}}}", known.digest)
        assert known.size > 0


def test_verify_known_checks_only_files_of_the_known_size(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    monkeypatch.setitem(cs.KNOWN_SUMS, "x/f", KnownSum("sha256", "0" * 64, 4))
    with pytest.raises(DataError, match="checksum mismatch"):
        verify_known(path, "x/f")
    # Same name, other size: a different (e.g. sub-sampled) copy, accepted unverified.
    monkeypatch.setitem(cs.KNOWN_SUMS, "x/f", KnownSum("sha256", "0" * 64, 5))
    verify_known(path, "x/f")
    verify_known(path, "x/unknown")


def test_corrupt_mnist_file_is_refused(tmp_path, monkeypatch, write_mnist):
    write_mnist(tmp_path / "mnist")
    images = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    good = hashlib.sha256(images.read_bytes()).hexdigest()
    bad = KnownSum("sha256", "f" * 64, images.stat().st_size)
    monkeypatch.setitem(cs.KNOWN_SUMS, "mnist/train-images-idx3-ubyte.gz", bad)
    with pytest.raises(DataError, match=rf"{re.escape(str(images))}: checksum mismatch"):
        load_dataset("mnist", "train", tmp_path)
    # The same entry with the right digest passes.
    good_sum = KnownSum("sha256", good, images.stat().st_size)
    monkeypatch.setitem(cs.KNOWN_SUMS, "mnist/train-images-idx3-ubyte.gz", good_sum)
    assert len(load_dataset("mnist", "trainval", tmp_path)) == 60


def test_raw_file_is_accepted_when_only_the_gz_is_known(tmp_path, monkeypatch, write_mnist):
    write_mnist(tmp_path, suffix="")
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        size = (tmp_path / name).stat().st_size
        monkeypatch.setitem(cs.KNOWN_SUMS, f"mnist/{name}.gz", KnownSum("sha256", "0" * 64, size))
    d = load_dataset("mnist", "trainval", tmp_path)
    assert len(d) == 60 and np.isfinite(d.x.numpy()).all()

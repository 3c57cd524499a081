import os
import pickle

import numpy as np
import pytest

from hyperzoo.data import DataError
from hyperzoo.data import checksums as cs
from hyperzoo.data.checksums import KnownSum
from hyperzoo.data.cifar import parse_bin_batch, read_cifar10, safe_unpickle


def expected(cifar_data, split):
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    return (
        np.concatenate([cifar_data[n][0] for n in names]),
        np.concatenate([cifar_data[n][1] for n in names]),
    )


def assert_matches(result, cifar_data):
    assert set(result) == {"train", "test"}
    for split in ("train", "test"):
        x, y = result[split]
        ex, ey = expected(cifar_data, split)
        assert x.shape == ex.shape and x.dtype == np.uint8
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


def test_record_layout_is_label_then_rgb_planes_row_major():
    pixels = (np.arange(3072) % 251).astype(np.uint8)
    x, y = parse_bin_batch(bytes([7]) + pixels.tobytes(), "batch")
    assert y.tolist() == [7] and x.shape == (1, 3, 32, 32)
    assert x[0, 0, 0, 1] == pixels[1]  # next pixel in the same row of R
    assert x[0, 0, 1, 0] == pixels[32]  # next row of R
    assert x[0, 1, 0, 0] == pixels[1024]  # G plane starts after 32x32 R values
    assert x[0, 2, 31, 31] == pixels[3071]  # last value: bottom-right of B


@pytest.mark.parametrize("version", ["bin", "py"])
def test_archive(tmp_path, cifar_data, cifar_files, write_tar, version):
    name = "cifar-10-binary.tar.gz" if version == "bin" else "cifar-10-python.tar.gz"
    files = cifar_files(version)
    files["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"  # ignored
    assert_matches(read_cifar10(write_tar(tmp_path / name, files)), cifar_data)


@pytest.mark.parametrize("version", ["bin", "py"])
def test_extracted_folder(tmp_path, cifar_data, cifar_files, write_tree, version):
    write_tree(tmp_path, cifar_files(version))
    assert_matches(read_cifar10(tmp_path / f"cifar-10-batches-{version}"), cifar_data)


def test_results_are_read_only(tmp_path, cifar_files, write_tree):
    write_tree(tmp_path, cifar_files("bin"))
    x, y = read_cifar10(tmp_path / "cifar-10-batches-bin")["train"]
    assert not x.flags.writeable and not y.flags.writeable


def test_truncated_batch(tmp_path, cifar_files, write_tree):
    files = cifar_files("bin")
    member = "cifar-10-batches-bin/data_batch_3.bin"
    files[member] = files[member][:-1]
    write_tree(tmp_path, files)
    with pytest.raises(DataError, match=r"data_batch_3.bin: truncated CIFAR-10 batch"):
        read_cifar10(tmp_path / "cifar-10-batches-bin")


def test_truncated_archive(tmp_path, cifar_files, write_tar):
    path = write_tar(tmp_path / "cifar-10-binary.tar.gz", cifar_files("bin"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cifar-10-binary.tar.gz: truncated or corrupt archive"):
        read_cifar10(path)


def test_missing_batch(tmp_path, cifar_files, write_tar):
    files = cifar_files("bin")
    del files["cifar-10-batches-bin/data_batch_4.bin"]
    path = write_tar(tmp_path / "cifar-10-binary.tar.gz", files)
    with pytest.raises(DataError, match=r"missing CIFAR-10 batch data_batch_4"):
        read_cifar10(path)


def test_bad_label(tmp_path, cifar_files, write_tree):
    files = cifar_files("bin")
    files["cifar-10-batches-bin/test_batch.bin"] = bytes([10]) + bytes(3072)
    write_tree(tmp_path, files)
    with pytest.raises(DataError, match=r"test_batch.bin: label 10 out of range"):
        read_cifar10(tmp_path / "cifar-10-batches-bin")


def test_member_checksum_mismatch(tmp_path, cifar_files, write_tar, monkeypatch):
    files = cifar_files("bin")
    size = len(files["cifar-10-batches-bin/test_batch.bin"])
    monkeypatch.setitem(cs.KNOWN_SUMS, "cifar10/test_batch.bin", KnownSum("md5", "0" * 32, size))
    path = write_tar(tmp_path / "cifar-10-binary.tar.gz", files)
    with pytest.raises(DataError, match=r"tar.gz:test_batch.bin: checksum mismatch \(expected md5"):
        read_cifar10(path)


def test_python_archive_checksum_mismatch(tmp_path, cifar_files, write_tar, monkeypatch):
    path = write_tar(tmp_path / "cifar-10-python.tar.gz", cifar_files("py"))
    bad = KnownSum("md5", "0" * 32, path.stat().st_size)
    monkeypatch.setitem(cs.KNOWN_SUMS, "cifar10/cifar-10-python.tar.gz", bad)
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: checksum mismatch"):
        read_cifar10(path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path, cifar_files, write_tree):
    marker = tmp_path / "pwned"
    files = cifar_files("py")
    files["cifar-10-batches-py/test_batch"] = pickle.dumps(
        {b"data": _Exploit(marker), b"labels": []}, protocol=2
    )
    write_tree(tmp_path, files)
    with pytest.raises(DataError, match=r"test_batch: refusing to unpickle (posix|nt|os)\.system"):
        read_cifar10(tmp_path / "cifar-10-batches-py")
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(S'1'\ntR.",
        b"cbuiltins\ngetattr\n.",
        b"cnumpy\nload\n.",
        b"ccopyreg\n_reconstructor\n.",
    ],
)
def test_only_numpy_essentials_are_allowed(payload):
    with pytest.raises(DataError, match=r"batch: refusing to unpickle"):
        safe_unpickle(payload, "batch")


def test_garbage_pickle(tmp_path):
    with pytest.raises(DataError, match=r"batch: not a readable pickle"):
        safe_unpickle(b"\x80\x02}q\x00(", "batch")


def test_python_batch_must_hold_image_data(tmp_path, cifar_files, write_tree):
    files = cifar_files("py")
    files["cifar-10-batches-py/data_batch_2"] = pickle.dumps({b"data": [1, 2], b"labels": [0, 1]})
    write_tree(tmp_path, files)
    with pytest.raises(DataError, match=r"data_batch_2: 'data' must be a uint8 array"):
        read_cifar10(tmp_path / "cifar-10-batches-py")


def test_python_batch_labels_must_be_integers():
    """Fractional labels were truncated (0.7 → 0) and booleans taken as classes."""
    from hyperzoo.data.cifar import parse_py_batch

    x = np.zeros((2, 3 * 32 * 32), np.uint8)
    for labels in ([0.7, 1.7], [True, False]):
        data = pickle.dumps({b"data": x, b"labels": labels}, protocol=2)
        with pytest.raises(DataError, match="'labels' must be a list of integers, got (float64|bool) values"):
            parse_py_batch(data, "b")
    y = parse_py_batch(pickle.dumps({b"data": x, b"labels": [3, 9]}, protocol=2), "b")[1]
    assert y.tolist() == [3, 9]


def test_a_binary_batch_named_without_bin_says_how_to_name_it():
    """It said 'not a readable pickle (UnpicklingError: invalid load key ...)'."""
    from hyperzoo.data.cifar import parse_batch

    records = bytes([3]) + bytes(3072)
    with pytest.raises(DataError, match=r"whole binary CIFAR records: .* ending in .bin \(data_batch_1.bin"):
        parse_batch("data_batch_1", records * 2, "data_batch_1")
    x, y = parse_batch("data_batch_1.bin", records * 2, "data_batch_1.bin")
    assert x.shape == (2, 3, 32, 32) and list(y) == [3, 3]
    with pytest.raises(DataError, match="not a readable pickle"):  # not records either: as before
        parse_batch("data_batch_1", b"garbage", "data_batch_1")

import gzip

import numpy as np
import pytest

from hyperzoo.data import DataError
from hyperzoo.data.idx import idx_candidates, read_idx


@pytest.mark.parametrize("name", ["a-images-idx3-ubyte.gz", "a-images-idx3-ubyte"])
def test_round_trip_gz_and_raw(tmp_path, write_idx, name):
    arr = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
    out = read_idx(write_idx(tmp_path / name, arr), ndim=3)
    assert out.dtype == np.uint8 and out.shape == (5, 3, 4)
    np.testing.assert_array_equal(out, arr)
    assert not out.flags.writeable


def test_labels_one_dimensional(tmp_path, write_idx):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l.gz", labels), ndim=1), labels)


def test_gzip_is_sniffed_not_taken_from_the_name(tmp_path, write_idx):
    gz = write_idx(tmp_path / "x.gz", np.ones((2, 2, 2), np.uint8))
    renamed = gz.rename(tmp_path / "x-idx3-ubyte")
    assert read_idx(renamed).shape == (2, 2, 2)


def test_empty_dimension(tmp_path, write_idx):
    assert read_idx(write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))).shape == (0, 28, 28)


@pytest.mark.parametrize("content", [b"hello, world", b"", b"\x00\x00\x08"])
def test_bad_magic_names_the_file(tmp_path, content):
    path = tmp_path / "bogus-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"bogus-idx3-ubyte: not an IDX file.*expected 0000 08"):
        read_idx(path)


def test_wrong_data_type(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\x00" * 4)
    with pytest.raises(DataError, match=r"floats: expected unsigned-byte .* got 0x0d"):
        read_idx(path)


def test_wrong_ndim(tmp_path, write_idx):
    path = write_idx(tmp_path / "labels.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"labels.gz: expected an IDX file with 3 dimension"):
        read_idx(path, ndim=3)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path, write_idx, gz):
    raw = write_idx(tmp_path / "full", np.ones((4, 5, 5), np.uint8)).read_bytes()[:-7]
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    expected = r"short-idx3-ubyte: truncated IDX file \(header says 4x5x5 = 100 bytes"
    with pytest.raises(DataError, match=expected):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "hdr"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match=r"hdr: truncated IDX header"):
        read_idx(path)


def test_oversized_data(tmp_path, write_idx):
    path = write_idx(tmp_path / "big", np.ones(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DataError, match=r"big: oversized IDX file"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path, write_idx):
    path = write_idx(tmp_path / "cut.gz", np.ones((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"cut.gz: truncated or corrupt gzip data"):
        read_idx(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nothere: cannot read"):
        read_idx(tmp_path / "nothere")


def test_candidates_cover_the_common_spellings(tmp_path):
    names = [p.name for p in idx_candidates(tmp_path, "train-images-idx3-ubyte")]
    assert names == [
        "train-images-idx3-ubyte.gz",
        "train-images-idx3-ubyte",
        "train-images.idx3-ubyte.gz",
        "train-images.idx3-ubyte",
    ]

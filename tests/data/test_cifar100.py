import pickle

import numpy as np
import pytest

from hyperzoo.data import DataError, load_dataset
from hyperzoo.data import checksums as cs
from hyperzoo.data.checksums import KnownSum
from hyperzoo.data.cifar100 import parse_bin, read_cifar100


def arrays(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    return x, rng.integers(0, 100, size=n, dtype=np.uint8), rng.integers(0, 20, size=n, dtype=np.uint8)


DATA = {"train": arrays(20, 0), "test": arrays(7, 1)}


def files(version):
    if version == "bin":
        return {f"cifar-100-binary/{s}.bin": b"".join(bytes([int(c), int(f)]) + img.tobytes()
                                                      for img, f, c in zip(*DATA[s], strict=True))
                for s in DATA}
    out = {f"cifar-100-python/{s}": pickle.dumps({b"data": x.reshape(len(x), -1),
                                                  b"fine_labels": [int(v) for v in f],
                                                  b"coarse_labels": [int(v) for v in c],
                                                  b"filenames": [b"a.png"] * len(x)}, protocol=2)
           for s, (x, f, c) in DATA.items()}
    out["cifar-100-python/meta"] = pickle.dumps({b"fine_label_names": [b"apple"] * 100}, protocol=2)
    return out


def assert_matches(result):
    for split, (x, fine, _) in DATA.items():
        np.testing.assert_array_equal(result[split][0], x)
        np.testing.assert_array_equal(result[split][1], fine)  # the fine labels are the classes


def test_binary_record_is_coarse_then_fine_label_then_rgb_planes():
    pixels = (np.arange(3072) % 251).astype(np.uint8)
    x, y = parse_bin(bytes([3, 77]) + pixels.tobytes(), "file")
    assert y.tolist() == [77] and x[0, 1, 0, 0] == pixels[1024] and x[0, 2, 31, 31] == pixels[3071]


@pytest.mark.parametrize("version", ["bin", "py"])
def test_archive_and_extracted_folder(tmp_path, write_tar, write_tree, version):
    name = "cifar-100-binary.tar.gz" if version == "bin" else "cifar-100-python.tar.gz"
    assert_matches(read_cifar100(write_tar(tmp_path / name, files(version))))
    write_tree(tmp_path / "x", files(version))
    folder = "cifar-100-binary" if version == "bin" else "cifar-100-python"
    assert_matches(read_cifar100(tmp_path / "x" / folder))


def test_load_dataset_holds_out_a_tenth_with_100_classes(tmp_path, write_tar):
    write_tar(tmp_path / "cifar-100" / "cifar-100-binary.tar.gz", files("bin"))
    train, val = (load_dataset("cifar100", s, tmp_path) for s in ("train", "val"))
    test = load_dataset("cifar100", "test", tmp_path)
    assert (len(train), len(val), len(test)) == (18, 2, 7)
    assert train.num_classes == 100 and train.input_shape == (3, 32, 32)
    assert float(train.x.max()) <= 1.0


def test_errors_are_one_line(tmp_path, write_tar, write_tree):
    with pytest.raises(DataError, match="dataset 'cifar100': no cifar-100-binary.tar.gz"):
        load_dataset("cifar100", "train", tmp_path)
    bad = files("bin")
    bad["cifar-100-binary/test.bin"] = bad["cifar-100-binary/test.bin"][:-5]
    write_tree(tmp_path / "t", bad)
    with pytest.raises(DataError, match="truncated CIFAR-100 file"):
        read_cifar100(tmp_path / "t" / "cifar-100-binary")
    only_train = {k: v for k, v in files("py").items() if not k.endswith("/test")}
    with pytest.raises(DataError, match="missing CIFAR-100 file test"):
        read_cifar100(write_tar(tmp_path / "m.tar.gz", only_train))
    wrong = files("bin")
    wrong["cifar-100-binary/train.bin"] = bytes([0, 100]) + bytes(3072)
    write_tree(tmp_path / "w", wrong)
    with pytest.raises(DataError, match="fine label 100 out of range 0-99"):
        read_cifar100(tmp_path / "w" / "cifar-100-binary")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, write_tree):
    evil = files("py")
    evil["cifar-100-python/train"] = pickle.dumps(Evil(), protocol=2)
    write_tree(tmp_path, evil)
    with pytest.raises(DataError, match="refusing to unpickle .*print"):
        read_cifar100(tmp_path / "cifar-100-python")


def test_the_official_python_archive_is_checked(tmp_path, write_tar, monkeypatch):
    path = write_tar(tmp_path / "cifar-100-python.tar.gz", files("py"))
    # The real archive's checksum, made to apply to this small file by its size.
    monkeypatch.setitem(cs.KNOWN_SUMS, "cifar100/cifar-100-python.tar.gz",
                        KnownSum("md5", "eb9058c3a382ffc7106e4002c42a8d85", path.stat().st_size))
    with pytest.raises(DataError, match="checksum mismatch"):
        read_cifar100(path)

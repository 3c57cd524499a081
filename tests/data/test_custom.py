"""A user's own data set by path: IDX folder, CIFAR-format folder, .npz."""

import numpy as np
import pytest
import torch

from hyperzoo.config import ConfigError, load_config
from hyperzoo.data import DataError, load_dataset
from hyperzoo.data.custom import as_images, as_labels, as_targets
from tests.data.conftest import bin_records, cifar_batch, py_batch


def _idx_set(write_idx, folder, n_train=40, n_test=10, side=12, classes=3, suffix=".gz"):
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        y = rng.integers(0, classes, n, dtype=np.uint8)
        y[0] = classes - 1  # every class count is certain
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y)
        arrays[prefix] = (x, y)
    return arrays


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_folder_any_size_and_classes_named_after_itself(tmp_path, write_idx, suffix):
    arrays = _idx_set(write_idx, tmp_path / "shapes12", suffix=suffix)
    test = load_dataset(str(tmp_path / "shapes12"), "test")
    assert test.name == "shapes12" and test.input_shape == (1, 12, 12) and test.num_classes == 3
    assert torch.equal(test.x[:, 0], torch.from_numpy(arrays["t10k"][0]).float() / 255)
    assert torch.equal(test.y, torch.from_numpy(arrays["t10k"][1]).long())
    train, val = (load_dataset(str(tmp_path / "shapes12"), s) for s in ("train", "val"))
    # Default: a fixed random tenth of the training examples is the validation split, the
    # others train, each in the file's order.
    assert (len(train), len(val)) == (36, 4)
    images = torch.from_numpy(arrays["train"][0]).float().div(255).flatten(1)
    rows = {tuple(r.tolist()): i for i, r in enumerate(images)}
    picked = [rows[tuple(r.tolist())] for r in val.x.flatten(1)]
    kept = [rows[tuple(r.tolist())] for r in train.x.flatten(1)]
    assert sorted(picked + kept) == list(range(40)) and picked == sorted(picked) and kept == sorted(kept)
    assert picked != [36, 37, 38, 39]
    assert torch.equal(val.y, torch.from_numpy(arrays["train"][1]).long()[picked])
    # data.val_pick last: the last tenth, as runs before it.
    last = load_dataset(str(tmp_path / "shapes12"), "val", val_pick="last")
    assert torch.equal(last.y, torch.from_numpy(arrays["train"][1][36:]).long())
    # data.val_fraction moves the cut; trainval is everything.
    assert len(load_dataset(str(tmp_path / "shapes12"), "val", val_fraction=0.25)) == 10
    assert len(load_dataset(str(tmp_path / "shapes12"), "trainval")) == 40


def test_class_sorted_data_trains_on_every_class(tmp_path):
    """Held out last, the validation split of class-sorted data was its last class alone: a
    class the networks never trained on."""
    x = np.random.default_rng(0).random((100, 4), dtype=np.float32)
    np.savez(tmp_path / "sorted.npz", x_train=x, y_train=np.arange(100) // 10)
    train, val = (load_dataset(str(tmp_path / "sorted.npz"), s) for s in ("train", "val"))
    assert set(train.y.tolist()) == set(range(10)) and len(set(val.y.tolist())) > 1
    assert set(load_dataset(str(tmp_path / "sorted.npz"), "val", val_pick="last").y.tolist()) == {9}


def test_path_relative_to_data_dir_and_errors(tmp_path, write_idx):
    _idx_set(write_idx, tmp_path / "sets" / "mine")
    assert load_dataset("mine", "test", tmp_path / "sets").name == "mine"
    with pytest.raises(DataError, match="unknown dataset 'nothere': neither a built-in"):
        load_dataset("nothere", "test", tmp_path / "sets")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is not a data set; expected a folder of IDX files"):
        load_dataset(str(tmp_path / "empty"), "test")
    with pytest.raises(DataError, match=r"val_fraction must be in \[0, 1\)"):
        load_dataset(str(tmp_path / "sets" / "mine"), "val", val_fraction=1.5)
    # An outlier set may hold only a test split; asking it for train says so.
    rng = np.random.default_rng(1)
    write_idx(tmp_path / "only" / "t10k-images-idx3-ubyte", rng.integers(0, 256, (5, 4, 4)))
    write_idx(tmp_path / "only" / "t10k-labels-idx1-ubyte", np.zeros(5))
    assert len(load_dataset(str(tmp_path / "only"), "test")) == 5
    with pytest.raises(DataError, match="has no train split; it holds only test"):
        load_dataset(str(tmp_path / "only"), "train")


def test_npz_and_its_forms(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 6, 5, 3), dtype=np.uint8)  # channels last
    y = np.arange(20) % 4
    np.savez(tmp_path / "colour.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    d = load_dataset(str(tmp_path / "colour.npz"), "test")
    assert d.name == "colour" and d.input_shape == (3, 6, 5) and d.num_classes == 4
    assert torch.equal(d.x, torch.from_numpy(x[:5]).permute(0, 3, 1, 2).float() / 255)
    # Floats are kept as given, not rescaled.
    f = rng.standard_normal((8, 2, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "floats.npz", x_test=f, y_test=np.zeros(8, dtype=np.int64))
    assert torch.equal(load_dataset(str(tmp_path / "floats.npz"), "test").x, torch.from_numpy(f))
    # Object arrays would need pickle: refused, not executed.
    np.savez(tmp_path / "evil.npz", x_test=np.array([object()], dtype=object), y_test=np.zeros(1))
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_dataset(str(tmp_path / "evil.npz"), "test")
    np.savez(tmp_path / "half.npz", x_test=f)
    with pytest.raises(DataError, match="has x_test without y_test"):
        load_dataset(str(tmp_path / "half.npz"), "test")
    # Splits of different shapes trained, then evaluate refused; an input_shape the examples do
    # not have let the layout be guessed without a word.
    np.savez(tmp_path / "mixed.npz", x_train=f, y_train=np.zeros(8), x_test=f[:, :1], y_test=np.zeros(8))
    with pytest.raises(DataError, match=r"its train split holds examples of shape \(2, 4, 4\), its test "
                                        r"split \(1, 4, 4\)"):
        load_dataset(str(tmp_path / "mixed.npz"), "train")
    np.savez(tmp_path / "shape.npz", x_test=f, y_test=np.zeros(8), input_shape=np.array([4, 4, 2]))
    with pytest.raises(DataError, match=r"input_shape \(4, 4, 2\) is not the examples' shape \(2, 4, 4\)"):
        load_dataset(str(tmp_path / "shape.npz"), "test")
    # Named as stored too: (2, 20) sequences against input_shape (2, 21) were called (1, 2, 20)
    # only, the layout guessed after the shape did not fit.
    np.savez(tmp_path / "seq.npz", x_test=np.zeros((8, 2, 20), np.float32), y_test=np.zeros(8),
             input_shape=np.array([2, 21]))
    with pytest.raises(DataError, match=r"input_shape \(2, 21\) is not the examples' shape \(1, 2, 20\) "
                                        r"\(x_test is stored as \(8, 2, 20\)\)"):
        load_dataset(str(tmp_path / "seq.npz"), "test")
    # A layout the guess reaches is taken: (n, H, W) for input_shape (1, H, W), NHWC for (C, H, W).
    for i, (shape, dims) in enumerate((((8, 4, 4), [1, 4, 4]), ((8, 8, 8, 3), [3, 8, 8]))):
        np.savez(tmp_path / f"guess{i}.npz", x_test=np.zeros(shape, np.float32), y_test=np.zeros(8),
                 input_shape=np.array(dims))
        assert load_dataset(str(tmp_path / f"guess{i}.npz"), "test").input_shape == tuple(dims)


@pytest.mark.parametrize("version", ["bin", "py"])
def test_cifar_format_folder_with_only_some_batches(tmp_path, version):
    folder = tmp_path / "mycifar"
    folder.mkdir()
    x, y = cifar_batch(4, 0)
    tx, ty = cifar_batch(3, 1)
    if version == "bin":
        (folder / "data_batch_1.bin").write_bytes(bin_records(x, y))
        (folder / "test_batch.bin").write_bytes(bin_records(tx, ty))
    else:
        (folder / "data_batch_1").write_bytes(py_batch(x, y))
        (folder / "test_batch").write_bytes(py_batch(tx, ty))
    d = load_dataset(str(folder), "test")
    assert d.name == "mycifar" and d.input_shape == (3, 32, 32)
    assert torch.equal(d.x, torch.from_numpy(tx).float() / 255)
    assert len(load_dataset(str(folder), "trainval")) == 4


def test_array_conversions():
    assert as_images(np.zeros((2, 3, 3), np.uint8), "x").shape == (2, 1, 3, 3)
    assert as_labels(np.array([0.0, 2.0]), "y").dtype == torch.int64
    with pytest.raises(DataError, match="label -1 is negative"):
        as_labels(np.array([0, -1]), "y")
    with pytest.raises(DataError, match="inputs must be images"):
        as_images(np.zeros(2), "x")
    assert as_images(np.zeros((2, 5)), "x").shape == (2, 5)  # feature vectors
    assert as_targets(np.array([0.5, 2.0]), "y").dtype == torch.float32  # real targets
    assert as_targets(np.array([1.0, 2.0]), "y").dtype == torch.int64  # whole numbers: classes
    # Negative ones cannot be classes: real targets (the label -1 was refused as negative).
    assert as_targets(np.array([-1.0, 2.0]), "y").dtype == torch.float32
    assert as_targets(np.array([-1, 2]), "y").dtype == torch.float32  # integers too
    assert as_targets(np.array([[0.5], [2.0]]), "y").shape == (2,)  # (n, 1) real targets
    with pytest.raises(DataError, match="example 1 is inf; targets must be finite"):
        as_targets(np.array([1.0, np.inf]), "y")  # read as the label -9223372036854775808 before


def test_an_npz_of_features_and_real_targets_is_a_regression_set(tmp_path):
    g = np.random.default_rng(0)
    x, xt = g.normal(size=(50, 3)).astype(np.float32), g.normal(size=(10, 3)).astype(np.float32)
    path = tmp_path / "houses.npz"
    np.savez(path, x_train=x, y_train=x.sum(1) + 0.1, x_test=xt, y_test=xt.sum(1))
    d = load_dataset(str(path), "train")
    assert d.task == "regression" and d.input_shape == (3,) and len(d) == 45 and d.num_classes == 0
    assert load_dataset(str(path), "test").task == "regression"


def test_an_npz_that_cannot_be_used_is_one_line_and_one_that_can_is_converted(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((12, 4, 4)).astype(np.float32)
    y = np.arange(12) % 3
    np.savez(tmp_path / "good.npz", x_test=x, y_test=y)
    whole = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    corrupt = bytearray(whole)
    corrupt[len(whole) // 3] ^= 0xFF  # inside a member: its CRC fails when read
    (tmp_path / "crc.npz").write_bytes(bytes(corrupt))
    np.savez(tmp_path / "text.npz", x_test=np.array([["a"] * 16] * 12).reshape(12, 4, 4), y_test=y)
    np.savez(tmp_path / "dates.npz", x_test=x, y_test=np.array(["2024-01-01"] * 12, dtype="datetime64[D]"))
    np.savez(tmp_path / "scalar.npz", x_test=x.reshape(12, 16), y_test=y, input_shape=np.array(16.5))
    for name, match in [("cut", "not a readable .npz file"), ("crc", "not a readable .npz file"),
                        ("text", "expected an array of numbers, got dtype <U1"),
                        ("dates", "expected an array of numbers, got dtype datetime64"),
                        ("scalar", "input_shape must list one example's sizes as positive integers")]:
        with pytest.raises(DataError, match=match):
            load_dataset(str(tmp_path / f"{name}.npz"), "test")
    # Big-endian pixels and 16-bit labels are numbers too: converted, not refused.
    np.savez(tmp_path / "wide.npz", x_test=x.astype(">f4"), y_test=y.astype(np.uint16))
    d = load_dataset(str(tmp_path / "wide.npz"), "test")
    assert torch.equal(d.x[:, 0], torch.from_numpy(x)) and d.y.dtype == torch.int64 and d.num_classes == 3
    np.savez(tmp_path / "seq.npz", x_test=x, y_test=y, input_shape=np.array([4, 4]))
    assert load_dataset(str(tmp_path / "seq.npz"), "test").input_shape == (4, 4)  # not guessed (1, 4, 4)
    (tmp_path / "seq.npz").rename(tmp_path / "SEQ.NPZ")
    assert load_dataset(str(tmp_path / "SEQ.NPZ"), "test").name == "SEQ"


def test_a_cifar_format_folder_of_your_own_may_hold_more_than_ten_classes(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    x, _ = cifar_batch(4, 0)
    (folder / "data_batch_1.bin").write_bytes(bin_records(x, np.array([0, 5, 12, 19], np.uint8)))
    (folder / "test_batch").write_bytes(py_batch(x[:2], np.array([19, 3])))
    assert load_dataset(str(folder), "test").num_classes == 20


def test_a_moved_data_set_is_found_in_data_dir_and_never_in_the_working_directory(tmp_path, monkeypatch):
    from hyperzoo.data.custom import resolve_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.npz").write_bytes(b"a decoy of the same name")
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "d.npz").write_bytes(b"the data")
    gone = str(tmp_path / "gone" / "d.npz")
    assert resolve_path(gone, tmp_path / "moved") == (tmp_path / "moved" / "d.npz").resolve()
    assert resolve_path(gone) is None


def test_a_cifar_folder_of_your_own_is_not_held_to_cifar10s_checksums(tmp_path, monkeypatch):
    """A 10,000-record batch of your own has CIFAR-10's size and was refused as corrupt; a
    folder named as CIFAR-10's copies is still checked."""
    from hyperzoo.data import checksums

    x, y = cifar_batch(4, 0)
    records = bin_records(x, y)
    monkeypatch.setitem(checksums.KNOWN_SUMS, "cifar10/data_batch_1.bin",
                        checksums.KnownSum("sha256", "0" * 64, len(records)))
    for name in ("mycifar", "cifar-10-batches-bin"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data_batch_1.bin").write_bytes(records)
        (tmp_path / name / "test_batch.bin").write_bytes(records)
    assert len(load_dataset(str(tmp_path / "mycifar"), "trainval")) == 4
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset(str(tmp_path / "cifar-10-batches-bin"), "trainval")


def test_a_cifar_folder_keeps_every_training_batch_in_order(tmp_path):
    """data_batch_6 and on were dropped without a word."""
    folder = tmp_path / "mine"
    folder.mkdir()
    for n in (1, 2, 3, 4, 5, 6, 7, 10):
        x, _ = cifar_batch(2, n)
        (folder / f"data_batch_{n}.bin").write_bytes(bin_records(x, np.full(2, n, np.uint8)))
    (folder / "test_batch.bin").write_bytes(bin_records(x, np.zeros(2, np.uint8)))
    y = load_dataset(str(folder), "trainval").y
    assert y.tolist() == [n for n in (1, 2, 3, 4, 5, 6, 7, 10) for _ in range(2)]


def test_splits_of_two_shapes_or_two_scalings_are_refused(tmp_path, write_idx):
    """An IDX folder of 8 x 8 training and 10 x 10 test images trained (and crashed with
    data.val_split: test); float32 0-255 training pixels beside uint8 test ones came in on two
    scales (255 and 1)."""
    write_idx(tmp_path / "idx" / "train-images-idx3-ubyte", np.zeros((4, 8, 8), np.uint8))
    write_idx(tmp_path / "idx" / "train-labels-idx1-ubyte", np.array([0, 1, 0, 1], np.uint8))
    write_idx(tmp_path / "idx" / "t10k-images-idx3-ubyte", np.zeros((2, 10, 10), np.uint8))
    write_idx(tmp_path / "idx" / "t10k-labels-idx1-ubyte", np.array([0, 1], np.uint8))
    with pytest.raises(DataError, match=r"train split holds examples of shape \(1, 8, 8\), its test split "
                                        r"\(1, 10, 10\)"):
        load_dataset(str(tmp_path / "idx"), "train")
    pixels = np.random.default_rng(0).integers(0, 256, (6, 4, 4)).astype(np.uint8)
    np.savez(tmp_path / "mixed.npz", x_train=pixels.astype(np.float32), y_train=np.arange(6) % 2,
             x_test=pixels, y_test=np.arange(6) % 2)
    with pytest.raises(DataError, match="x_train is float32 but x_test is uint8"):
        load_dataset(str(tmp_path / "mixed.npz"), "train")


def test_what_an_npz_name_holds_is_checked_before_numpy_reads_it(tmp_path):
    """An .npy under an .npz name crashed (TypeError); a text file was called pickled data,
    with numpy's advice to load it unsafely."""
    np.save(tmp_path / "array.npy", np.zeros((3, 4, 4)))
    (tmp_path / "array.npy").rename(tmp_path / "array.npz")
    (tmp_path / "text.npz").write_text("x_train,y_train\n1,2\n")
    for name in ("array", "text"):
        with pytest.raises(DataError, match=r"not an \.npz file \(a zip archive; an \.npy array\?"):
            load_dataset(str(tmp_path / f"{name}.npz"), "test")


def test_arrays_users_commonly_hold_are_read_and_bad_ones_named():
    x = np.random.default_rng(0).integers(0, 256, (3, 6, 6, 3)).astype(np.uint8)
    # BGR to RGB: a negative stride, which torch refused with a traceback.
    assert torch.equal(as_images(x[..., ::-1], "x"), as_images(np.ascontiguousarray(x[..., ::-1]), "x"))
    assert torch.equal(as_labels(np.arange(3)[::-1], "y"), torch.tensor([2, 1, 0]))
    # RGBA and two-channel images are channels-last too (read as 6 channels of 6 x 4 before).
    assert as_images(np.zeros((2, 6, 6, 4), np.uint8), "x").shape == (2, 4, 6, 6)
    assert as_images(np.zeros((2, 6, 6, 2), np.uint8), "x").shape == (2, 2, 6, 6)
    with pytest.raises(DataError, match=r"inputs must be floating point .* got uint16; give integer"):
        as_images(np.zeros((2, 4, 4), np.uint16), "x")  # it said int64
    with pytest.raises(DataError, match="labels must be class indices 0, 1, …; found 1e[+]20"):
        as_labels(np.array([0.0, 1e20]), "y")  # it said "label -9223372036854775808 is negative"


def test_same_scaling_reads_lists_too():
    """fit's test_data given as lists: an AttributeError ('list' has no dtype)."""
    from hyperzoo.data.custom import same_scaling

    same_scaling([[0.5]], np.zeros((1, 1), np.float32), "x", "y")
    with pytest.raises(DataError, match="x is uint8 but y is float64"):
        same_scaling(np.zeros(2, np.uint8), [[2.0]], "x", "y")


def test_uint8_beside_floats_in_0_1_is_one_scale():
    """uint8 is scaled to [0, 1]: beside floats already there it was refused all the same."""
    from hyperzoo.data.custom import same_scaling

    same_scaling(np.full((2, 3), 255, np.uint8), torch.rand(2, 3), "x_train", "x_test")
    same_scaling(torch.rand(2, 3), np.zeros((2, 3), np.uint8), "x_train", "x_test")
    for floats in (np.full((2, 3), 255.0, np.float32), np.full((2, 3), -0.5, np.float32)):  # [-1, 1] too
        with pytest.raises(DataError, match="x_train is float32 but x_test is uint8"):
            same_scaling(floats, np.zeros((2, 3), np.uint8), "x_train", "x_test")


def test_float_images_at_pixel_scale_are_noted(capsys):
    """Kept as given, 0-255 floats reached a standardising target at 255 times the scale."""
    from hyperzoo.data.custom import as_images

    x = (torch.rand(4, 3, 8, 8) * 255).round()
    assert torch.equal(as_images(x, "scaled.npz:x_train"), x)
    as_images(x, "scaled.npz:x_test")  # once per file
    assert capsys.readouterr().err.count("note: scaled.npz:x_train: float images with values up to") == 1
    # Resized or averaged pixels have fractions: such a run trained at chance, unnoted.
    as_images(torch.rand(4, 3, 8, 8) * 255, "resized.npz:x_train")
    assert "note: resized.npz:x_train: float images with values up to" in capsys.readouterr().err
    as_images(torch.rand(4, 3, 8, 8), "unit.npz:x_train")
    # Standardised data: fractions and negative values, whatever its largest value.
    as_images(torch.randn(4, 3, 8, 8) * 30, "standardised.npz:x_train")
    assert capsys.readouterr().err == ""


def test_a_column_of_labels_is_read_as_labels():
    """(n, 1) integer labels were refused while (n, 1) real targets were taken."""
    from hyperzoo.data.custom import as_labels

    assert torch.equal(as_labels(np.array([[2], [0], [1]]), "y"), torch.tensor([2, 0, 1]))
    with pytest.raises(DataError, match=r"of shape \(n,\), got torch.int64 \(3, 2\)"):  # one-hot: still no
        as_labels(np.eye(3, 2, dtype=np.int64), "y")
    with pytest.raises(DataError, match=r"got torch.int64 \(4, 4\); these look one-hot: pass their argmax"):
        as_labels(np.eye(4), "y")  # float64 one-hot, as a user's array was


def test_a_file_without_a_test_split_is_noted_when_training_reads_it(tmp_path, capsys):
    """It trained, then evaluate and report said 'has no test split'. Said by training only: on
    every read it was said by evaluate --split val and by batch-norm statistics too."""
    from hyperzoo.train import train
    from tests.helpers import tiny_config

    x, y = np.random.default_rng(0).random((60, 1, 8, 8), dtype=np.float32), np.arange(60) % 10
    np.savez(tmp_path / "notest.npz", x_train=x, y_train=y)
    assert len(load_dataset(str(tmp_path / "notest.npz"), "train")) == 54
    assert len(load_dataset(str(tmp_path / "notest.npz"), "val")) == 6
    assert "no test split" not in capsys.readouterr().err
    train(tiny_config("train.steps=1", f"data.dataset={tmp_path / 'notest.npz'}"), tmp_path / "run",
          argv=["x"], progress=False)
    assert "holds no test split (x_test, y_test; fit's test_data)" in capsys.readouterr().err
    np.savez(tmp_path / "both.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    train(tiny_config("train.steps=1", f"data.dataset={tmp_path / 'both.npz'}"), tmp_path / "run2",
          argv=["x"], progress=False)
    assert "no test split" not in capsys.readouterr().err


def test_float_splits_on_two_scales_are_noted(capsys):
    """Train in [0, 1], test in [0, 16] (a division forgotten on one split) passed without a word."""
    from hyperzoo.data.custom import same_scaling

    same_scaling(np.random.default_rng(0).random((5, 4)), np.full((5, 4), 16.0), "x_train", "x_test")
    assert "note: x_train reaches" in capsys.readouterr().err
    same_scaling(np.full((5, 4), 0.9), torch.full((5, 4), 1.0), "x_train", "x_test")
    same_scaling(np.zeros((2, 3), np.uint8), np.full((2, 3), 255, np.uint8), "a", "b")  # one is blank
    assert capsys.readouterr().err == ""


def test_the_scale_note_reads_arrays_of_any_layout():
    """The BGR->RGB idiom (negative strides), wide unsigned and big-endian arrays raised raw errors."""
    from hyperzoo.data.custom import same_scaling

    x = np.random.default_rng(0).random((4, 3, 2, 2), dtype=np.float32)
    same_scaling(x[:, ::-1], x.astype(">f4"), "a", "b")
    same_scaling(np.ones((2, 2), np.uint16), np.ones((2, 2), np.uint16), "a", "b")


def test_a_cifar_folders_fingerprint_covers_the_batches_read(tmp_path, cifar_files, write_tree):
    """Where a batch is there both as .bin and without, the reader reads the .bin alone: the
    other copy changed must not refuse the run's data (a review)."""
    from hyperzoo.data.custom import data_files, data_sha256

    folder = write_tree(tmp_path, cifar_files("bin")) / "cifar-10-batches-bin"
    (folder / "data_batch_1").write_bytes(b"an unread twin")
    files = data_files(folder)
    assert [f.name for f in files] == [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    before = data_sha256(folder)
    (folder / "data_batch_1").write_bytes(b"changed")
    (folder / "notes.txt").write_text("not data")
    assert data_sha256(folder) == before
    (folder / "test_batch.bin").write_bytes((folder / "test_batch.bin").read_bytes()[::-1])
    assert data_sha256(folder) != before


def test_an_idx_folders_fingerprint_covers_the_files_read(tmp_path, write_mnist):
    """Gzipped and raw copies side by side: the reader takes the .gz; the raw twin may change."""
    from hyperzoo.data.custom import data_files, data_sha256

    write_mnist(tmp_path, suffix=".gz")
    write_mnist(tmp_path, suffix="")
    names = [f"{p}-{kind}-ubyte.gz" for p in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]
    assert [f.name for f in data_files(tmp_path)] == names
    before = data_sha256(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"an unread twin")
    assert data_sha256(tmp_path) == before


def test_a_nan_among_whole_number_labels_names_its_example():
    """It was taken for a regression target: 'regression targets must be finite', no example."""
    y = torch.tensor([0.0, 1.0, float("nan"), 2.0])
    with pytest.raises(DataError, match=r"^y: example 2 is nan; targets must be finite \(class indices, or"):
        as_targets(y, "y")
    with pytest.raises(DataError, match="^y: example 1 is inf; labels must be finite class indices"):
        as_labels(torch.tensor([0.0, float("inf")]), "y")


def test_val_fraction_0_trains_on_every_example_and_validates_on_test(tmp_path):
    """Refused: with data.val_split test, a tenth of one's own set sat unused."""

    x, y = np.random.default_rng(0).random((40, 1, 4, 4), dtype=np.float32), np.arange(40) % 2
    np.savez(tmp_path / "all.npz", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    assert len(load_dataset(str(tmp_path / "all.npz"), "train", val_fraction=0)) == 40
    with pytest.raises(DataError, match="has no validation examples: data.val_fraction is 0"):
        load_dataset(str(tmp_path / "all.npz"), "val", val_fraction=0)
    assert load_config(None, ["data.val_fraction=0", "data.val_split=test"]).data.val_fraction == 0
    with pytest.raises(ConfigError, match="val_fraction 0 holds out no validation examples: set data.val_"):
        load_config(None, ["data.val_fraction=0"])
    with pytest.raises(ConfigError, match=r"'data.val_fraction' = 1.0 must be in \[0, 1\)"):
        load_config(None, ["data.val_fraction=1.0"])


def test_nan_beside_uint8_is_left_to_the_finiteness_check():
    """A NaN in the float split read as 'the two would differ in scale'."""
    from hyperzoo.data.custom import same_scaling

    floats = np.random.default_rng(0).random((2, 3)).astype(np.float32)
    floats[0, 0] = np.nan
    same_scaling(np.zeros((2, 3), np.uint8), floats, "x_train", "x_test")  # as_images names the NaN
    with pytest.raises(DataError, match="inputs must be finite"):
        as_images(floats, "x_test")


def test_several_real_targets_per_example_are_not_called_labels():
    """A (200, 2) float y was refused as 'labels must be integer class indices'."""
    with pytest.raises(DataError, match=r"targets must be one value per example, .*got \(5, 2\) \(several"):
        as_targets(np.random.default_rng(0).random((5, 2)), "y")
    with pytest.raises(DataError, match="these look one-hot"):  # one-hot floats: as before
        as_targets(np.eye(4), "y")


def test_uint8_codes_far_below_pixel_values_are_noted_once(monkeypatch, capsys):
    """Token ids or category codes as uint8 trained on their 255ths without a word."""
    import hyperzoo.data.custom

    monkeypatch.setattr(hyperzoo.data.custom, "_noted_scale", set())
    codes = torch.arange(20, dtype=torch.uint8).repeat(5, 1)  # (5, 20): features 0-19
    assert torch.equal(as_images(codes, "codes.npz:x_train"), codes.float() / 255)
    as_images(codes, "codes.npz:x_test")
    err = capsys.readouterr().err
    assert err.count("these reach only 19 (so 0.075); if they are codes or counts") == 1
    as_images(torch.full((2, 8, 8), 200, dtype=torch.uint8), "pixels.npz:x_train")
    assert capsys.readouterr().err == ""


def test_too_few_examples_to_hold_out_name_both_ways_on(tmp_path):
    path = tmp_path / "five.npz"
    np.savez(path, x_train=np.zeros((5, 4), np.float32), y_train=np.array([0, 1, 0, 1, 0]))
    with pytest.raises(DataError, match=r"too few to hold out a validation fraction of 0.1: raise "
                                        r"data.val_fraction, or hold none out \(data.val_fraction: 0 with "
                                        r"data.val_split: test"):
        load_dataset(str(path), "train", val_fraction=0.1)

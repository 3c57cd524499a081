import re

import numpy as np
import pytest
import torch

from hyperzoo.data import DATASETS, DataError, load_dataset


def test_dataset_names():
    assert DATASETS[:4] == ("digits", "mnist", "notmnist", "cifar10")


def test_unknown_dataset():
    expected = "unknown dataset 'foo': neither a built-in (digits, mnist, notmnist, cifar10, cifar5"
    with pytest.raises(DataError, match=re.escape(expected)):
        load_dataset("foo", "train")


@pytest.mark.parametrize(
    ("name", "valid"),
    [("digits", "train, val, test, trainval"), ("notmnist", "test"), ("cifar10", "train, val")],
)
def test_unknown_split(name, valid):
    with pytest.raises(DataError, match=rf"unknown split 'bogus' for dataset '{name}'.*{valid}"):
        load_dataset(name, "bogus", "/nowhere")


@pytest.mark.parametrize("name", ["mnist", "notmnist", "cifar10"])
def test_file_datasets_need_a_data_dir(name):
    with pytest.raises(DataError, match=rf"dataset '{name}' needs --data-dir pointing at"):
        load_dataset(name, "test")


def test_data_dir_must_exist(tmp_path):
    with pytest.raises(DataError, match=rf"data dir {re.escape(str(tmp_path / 'x'))} does not"):
        load_dataset("mnist", "test", tmp_path / "x")


@pytest.mark.parametrize("via", ["parent", "folder"])
def test_mnist_splits(tmp_path, write_mnist, via):
    arrays = write_mnist(tmp_path / "mnist", n_train=60, n_test=12)
    data_dir = tmp_path if via == "parent" else str(tmp_path / "mnist")
    images, labels = arrays["train"]
    # 60 examples: the last 60 // 12 = 5 are val, as 5,000 of 60,000 in the paper's split.
    for split, sl in [("train", slice(0, 55)), ("val", slice(55, 60)), ("trainval", slice(0, 60))]:
        d = load_dataset("mnist", split, data_dir)
        assert (d.name, d.split, d.num_classes, d.input_shape) == ("mnist", split, 10, (1, 28, 28))
        assert d.x.dtype == torch.float32 and d.y.dtype == torch.int64
        np.testing.assert_allclose(d.x.numpy()[:, 0], images[sl] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(d.y.numpy(), labels[sl])
    test = load_dataset("mnist", "test", data_dir)
    np.testing.assert_array_equal(test.y.numpy(), arrays["t10k"][1])
    assert len(test) == 12 and float(test.x.max()) <= 1.0


def test_test_split_needs_only_the_test_files(tmp_path, write_mnist):
    write_mnist(tmp_path, n_train=0, n_test=12)
    assert len(load_dataset("mnist", "test", tmp_path)) == 12


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_dotted_and_raw_spellings(tmp_path, write_idx, mnist_arrays, suffix):
    images, labels = mnist_arrays(12)
    write_idx(tmp_path / f"t10k-images.idx3-ubyte{suffix}", images)
    write_idx(tmp_path / f"t10k-labels.idx1-ubyte{suffix}", labels)
    np.testing.assert_array_equal(load_dataset("mnist", "test", tmp_path).y.numpy(), labels)


def test_missing_file_names_paths_and_alternatives(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "train", tmp_path)
    msg = str(e.value)
    assert f"missing file {tmp_path / 'mnist' / 'train-images-idx3-ubyte.gz'}" in msg
    assert "train-images-idx3-ubyte, train-images.idx3-ubyte.gz" in msg
    assert f"also looked in {tmp_path}" in msg and "\n" not in msg


def test_missing_labels_are_looked_for_next_to_the_images(tmp_path, write_idx, mnist_arrays):
    images, labels = mnist_arrays(12)
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match=r"missing file .*mnist/t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", "test", tmp_path)


def test_image_and_label_counts_must_agree(tmp_path, write_idx, mnist_arrays):
    images, labels = mnist_arrays(12)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:11])
    with pytest.raises(DataError, match=r"has 12 images but .* has 11 labels"):
        load_dataset("mnist", "test", tmp_path)


def test_too_few_examples_for_a_validation_split(tmp_path, write_mnist):
    write_mnist(tmp_path, n_train=11)
    assert len(load_dataset("mnist", "trainval", tmp_path)) == 11
    with pytest.raises(DataError, match=r"11 training examples are too few"):
        load_dataset("mnist", "val", tmp_path)


def test_notmnist(tmp_path, write_mnist):
    arrays = write_mnist(tmp_path / "notmnist-small", n_train=0, n_test=20)
    d = load_dataset("notmnist", "test", tmp_path)
    assert (len(d), d.name, d.input_shape) == (20, "notmnist", (1, 28, 28))
    np.testing.assert_array_equal(d.y.numpy(), arrays["t10k"][1])
    assert len(load_dataset("notmnist", "test", tmp_path / "notmnist-small")) == 20


@pytest.mark.parametrize(
    "layout", ["cifar-10/cifar-10-binary.tar.gz", "cifar-10-binary.tar.gz", "extracted", "py"]
)
def test_cifar10_splits(tmp_path, cifar_data, cifar_files, write_tar, write_tree, layout):
    if layout == "extracted":
        write_tree(tmp_path / "cifar-10", cifar_files("bin"))
    elif layout == "py":
        write_tar(tmp_path / "cifar-10" / "cifar-10-python.tar.gz", cifar_files("py"))
    else:
        write_tar(tmp_path / layout, cifar_files("bin"))
    train_x = np.concatenate([cifar_data[f"data_batch_{i}"][0] for i in range(1, 6)])
    # 10 training examples: the last 10 // 10 = 1 is val, as 5,000 of 50,000.
    for split, n in [("train", 9), ("val", 1), ("trainval", 10), ("test", 3)]:
        d = load_dataset("cifar10", split, tmp_path)
        assert len(d) == n and d.input_shape == (3, 32, 32)
    val = load_dataset("cifar10", "val", tmp_path)
    np.testing.assert_allclose(val.x.numpy(), train_x[9:] / 255.0, rtol=1e-6)
    test = load_dataset("cifar10", "test", tmp_path)
    np.testing.assert_array_equal(test.y.numpy(), cifar_data["test_batch"][1])


def test_cifar10_data_dir_may_be_the_batches_folder(tmp_path, cifar_files, write_tree):
    write_tree(tmp_path, cifar_files("bin"))
    assert len(load_dataset("cifar10", "test", tmp_path / "cifar-10-batches-bin")) == 3


def test_cifar10_missing(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "test", tmp_path)
    msg = str(e.value)
    assert f"no cifar-10-binary.tar.gz in {tmp_path / 'cifar-10'} or {tmp_path}" in msg
    assert "cifar-10-batches-bin/, cifar-10-python.tar.gz, cifar-10-batches-py/" in msg


def test_loads_are_independent_copies(tmp_path, write_mnist):
    write_mnist(tmp_path)
    first = load_dataset("mnist", "train", tmp_path)
    first.x.fill_(0.5)
    first.y.fill_(0)
    again = load_dataset("mnist", "train", tmp_path)
    assert float(again.x.max()) > 0.5 and int(again.y.max()) > 0


def test_a_changed_file_is_read_again(tmp_path, write_mnist, write_idx, mnist_arrays):
    write_mnist(tmp_path, n_train=0, n_test=12)
    assert len(load_dataset("mnist", "test", tmp_path)) == 12
    images, labels = mnist_arrays(24, seed=9)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    assert len(load_dataset("mnist", "test", tmp_path)) == 24


def test_cifar5_and_its_hidden_classes_partition_cifar10(tmp_path, cifar_files, write_tree):
    write_tree(tmp_path, cifar_files("bin"))
    full = load_dataset("cifar10", "trainval", tmp_path)
    five = load_dataset("cifar5", "trainval", tmp_path)
    hidden = load_dataset("cifar5-hidden", "trainval", tmp_path)
    assert five.num_classes == hidden.num_classes == 5
    assert len(five) + len(hidden) == len(full)
    torch.testing.assert_close(five.x, full.x[full.y < 5])
    torch.testing.assert_close(five.y, full.y[full.y < 5])
    torch.testing.assert_close(hidden.y, full.y[full.y >= 5] - 5)


def test_mnist_5000_keeps_5000_training_examples_and_the_usual_val_and_test(tmp_path, write_mnist):
    write_mnist(tmp_path, n_train=6000, n_test=12)
    small = load_dataset("mnist-5000", "train", tmp_path)
    full = load_dataset("mnist", "train", tmp_path)
    assert len(small) == 5000 and small.name == "mnist-5000"
    torch.testing.assert_close(small.x, full.x[:5000])
    assert len(load_dataset("mnist-5000", "val", tmp_path)) == 500
    assert len(load_dataset("mnist-5000", "test", tmp_path)) == 12


def test_val_fraction_moves_the_cut_of_a_built_in_set(tmp_path, write_mnist):
    arrays = write_mnist(tmp_path / "mnist", n_train=60, n_test=12)
    val = load_dataset("mnist", "val", tmp_path, val_fraction=0.25)
    train = load_dataset("mnist", "train", tmp_path, val_fraction=0.25)
    assert (len(train), len(val)) == (45, 15)
    np.testing.assert_array_equal(val.y.numpy(), arrays["train"][1][45:])
    # The same folder, named by path: its own name, the official checksums still apply by name.
    assert load_dataset(str(tmp_path / "mnist"), "test").name == "mnist"

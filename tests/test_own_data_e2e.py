"""Issue 16's "done means": a user's own model (a file in the working directory, no PYTHONPATH)
and a data set hyperzoo has never seen (IDX files written here), trained with the Deutsch
hypernetwork and HyperGAN, evaluated, and scored against two outlier sets: by CLI and by API."""

import json
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import hyperzoo
from hyperzoo.cli import app
from tests.data.conftest import idx_bytes

runner = CliRunner()
MODEL = '''
from torch import nn


class Small(nn.Module):
    def __init__(self, hidden=16, classes=4):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * 8 * 8, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)
'''
FAST = ["train.steps=4", "train.threads=1", "train.noise_batch=4", "train.images_per_noise=8",
        "train.val_every=4", "train.val_networks=3", "train.checkpoint_every=4"]
METHODS = {
    "deutsch": ["method.z_dim=8", "method.code_size=4", "method.extractor_hidden=[16]",
                "method.generator_hidden=[16]"],
    "hypergan": ["method.name=hypergan", "method.z_dim=8", "method.code_size=4", "method.mixer_hidden=[16]",
                 "method.generator_hidden=[16]", "method.discriminator_hidden=[16]",
                 "method.pretrain_steps=2", "method.pretrain_batch=16"],
}


def write_blobs(folder, n_train=120, n_test=40, side=10, classes=4):
    """Four classes of 10×10 images: a bright quadrant per class, plus noise."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, classes, n)
        x = rng.integers(0, 60, (n, side, side))
        for i, c in enumerate(y):
            r, q = divmod(int(c), 2)
            x[i, r * 5:(r + 1) * 5, q * 5:(q + 1) * 5] += 180
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(x))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(y))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A user's working directory: their model file, their data set, two outlier sets."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the cwd import must not leak to other tests
    (tmp_path / "mymodels.py").write_text(MODEL)
    write_blobs(tmp_path / "sets" / "blobs")
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "noise.npz", x_test=rng.integers(0, 256, (30, 10, 10), dtype=np.uint8),
             y_test=np.zeros(30, dtype=np.int64))
    (tmp_path / "out" / "stripes").mkdir(parents=True)
    stripes = np.zeros((30, 10, 10), dtype=np.uint8)
    stripes[:, :, ::2] = 255
    (tmp_path / "out" / "stripes" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(stripes))
    (tmp_path / "out" / "stripes" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(30)))
    yield tmp_path
    sys.modules.pop("mymodels", None)  # each test imports its own working directory's file


@pytest.mark.parametrize("method", ["deutsch", "hypergan"])
def test_cli_own_model_own_data_two_outlier_sets(workdir, method):
    sets = [a for kv in (*FAST, *METHODS[method], "target.name=mymodels:Small",
                         "data.dataset=blobs", "target.kwargs={hidden: 12}") for a in ("--set", kv)]
    r = runner.invoke(app, ["train", *sets, "--data-dir", "sets", "--out", "run", "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", "run", "--networks", "3", "--quiet"])
    assert r.exit_code == 1 and "pass --trust-code" in r.output  # a run folder is data, not code
    r = runner.invoke(app, ["evaluate", "run", "--networks", "3", "--quiet", "--trust-code"])
    assert r.exit_code == 0, r.output
    assert "blobs / test (40 examples)" in r.output
    assert json.loads((workdir / "run" / "metrics-test.json").read_text())["dataset"] == "blobs"
    r = runner.invoke(app, ["ood", "--quiet", "run", "--trust-code", "--outliers", "noise.npz", "--outliers",
                            "out/stripes", "--networks", "3", "--out", "ood"])
    assert r.exit_code == 0, r.output
    assert "blobs vs noise" in r.output and "blobs vs stripes" in r.output
    saved = json.loads((workdir / "ood" / "ood.json").read_text())
    assert saved["outliers"] == ["noise", "stripes"] and set(saved["sets"]) == {"noise", "stripes"}


def test_cli_errors_name_the_shapes_and_the_kwarg(workdir):
    base = [a for kv in (*FAST, *METHODS["deutsch"], "target.name=mymodels:Small", "data.dataset=blobs")
            for a in ("--set", kv)]
    r = runner.invoke(app, ["train", *base, "--set", "target.kwargs={hiden: 3}", "--data-dir", "sets",
                            "--out", "a"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "target.kwargs {'hiden': 3} do not fit target 'mymodels:Small'" in r.output
    r = runner.invoke(app, ["train", *base, "--set", "target.name=deutsch_mnist", "--data-dir", "sets",
                            "--out", "b"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert ("target 'deutsch_mnist' cannot take the inputs of data set 'blobs' of shape (1, 10, 10)"
            in r.output)
    assert "784" in r.output  # torch's own reason, first line
    r = runner.invoke(app, ["train", *base, "--set", "target.kwargs={classes: 3}", "--data-dir", "sets",
                            "--out", "c"])
    assert r.exit_code == 1 and "has 4 classes" in r.output
    r = runner.invoke(app, ["train", "--set", "data.dataset=mnist", "--out", "m"])
    assert r.exit_code == 1 and "needs --data-dir" in r.output


@pytest.mark.parametrize("method", ["deutsch", "hypergan"])
def test_api_own_model_own_data_two_outlier_sets(workdir, method):
    sys.path.insert(0, str(workdir))  # as `python my_script.py` does there; restored by the fixture
    import mymodels  # the user's file
    over = dict(kv.split("=", 1) for kv in FAST + METHODS[method])
    sections: dict = {}
    for key, value in over.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = json.loads(value) if value[0] in "[0123456789" else value
    # The constructor's arguments are recorded so the folder alone rebuilds the module.
    sections["target"] = {"kwargs": {"hidden": 12}}
    run = hyperzoo.fit(mymodels.Small(hidden=12), "sets/blobs", out="api-run", progress=False, **sections)
    m = run.evaluate(networks=3)
    assert m["dataset"] == "blobs" and m["n_examples"] == 40
    stripes = hyperzoo.data.load_dataset("out/stripes", "test").x
    r = run.ood("noise.npz", ("stripes", stripes), networks=3)
    assert set(r["sets"]) == {"noise", "stripes"}
    assert all(0 <= s["auroc"] <= 1 for s in r["sets"].values())
    # The folder alone reopens it, with the import path and kwargs recorded.
    again = hyperzoo.load("api-run", trust_code=True)  # it imports mymodels: the user's own code
    assert again.config.target.name == "mymodels:Small"
    assert torch.equal(again.sample(2)["net.0.weight"], run.sample(2)["net.0.weight"])


def test_cli_import_path_and_named_outliers_from_their_own_folder(workdir):
    (workdir / "lib").mkdir()
    (workdir / "mymodels.py").rename(workdir / "lib" / "libmodels.py")
    sets = [a for kv in (*FAST, *METHODS["deutsch"], "target.name=libmodels:Small", "data.dataset=blobs")
            for a in ("--set", kv)]
    try:
        r = runner.invoke(app, ["train", *sets, "--data-dir", "sets", "--out", "run", "--quiet"])
        assert r.exit_code == 1 and "cannot be imported" in r.output and "--import-path" in r.output
        r = runner.invoke(app, ["train", *sets, "--data-dir", "sets", "--import-path", "lib", "--out", "run",
                                "--quiet"])
        assert r.exit_code == 0, r.output
        # A named outlier set (notMNIST's layout) in a folder of its own; the inliers stay the run's.
        noise = np.random.default_rng(2).integers(0, 256, (25, 10, 10))
        (workdir / "other" / "notmnist-small").mkdir(parents=True)
        (workdir / "other" / "notmnist-small" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(noise))
        (workdir / "other" / "notmnist-small" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(25)))
        r = runner.invoke(app, ["ood", "--quiet", "run", "--outliers", "notmnist", "--outlier-dir", "other",
                                "--networks", "3", "--trust-code"])
        assert r.exit_code == 0, r.output
        assert "blobs vs notmnist" in r.output
        # An outlier set of another shape: one line naming both shapes.
        np.savez(workdir / "small.npz", x_test=np.zeros((5, 8, 8), np.uint8), y_test=np.zeros(5, np.int64))
        r = runner.invoke(app, ["ood", "--quiet", "run", "--outliers", "small.npz", "--networks", "3",
                                "--trust-code"])
        assert r.exit_code == 1 and r.output.strip().splitlines() == [
            "error: data set 'small' has inputs of shape (1, 8, 8) but the run's target takes (1, 10, 10) "
            "(C, H, W)"]
        # As a fresh process would find it: every command that reopens a run takes --import-path
        # (only train did, and the error advised it).
        sys.modules.pop("libmodels", None)
        sys.path.remove(str((workdir / "lib").resolve()))
        r = runner.invoke(app, ["evaluate", "run", "--networks", "2", "--trust-code", "--quiet"])
        assert r.exit_code == 1 and "cannot be imported" in r.output
        r = runner.invoke(app, ["evaluate", "run", "--networks", "2", "--trust-code", "--quiet",
                                "--import-path", "lib"])
        assert r.exit_code == 0, r.output
    finally:
        sys.modules.pop("libmodels", None)
        if str((workdir / "lib").resolve()) in sys.path:
            sys.path.remove(str((workdir / "lib").resolve()))


def test_a_run_on_data_without_a_test_split_reopens_and_follows_its_data_when_moved(tmp_path, monkeypatch):
    """The input shape is recorded at training, so sampling needs no data; a data set moved
    elsewhere is found again by its name in --data-dir."""
    from tests.helpers import TINY

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    (tmp_path / "sets").mkdir()
    np.savez(tmp_path / "sets" / "trainonly.npz", x_train=rng.random((60, 8, 8), dtype=np.float32),
             y_train=rng.integers(0, 3, 60))
    sets = [a for kv in (*TINY, "train.steps=2", "train.threads=1", "data.dataset=sets/trainonly.npz")
            for a in ("--set", kv)]
    assert runner.invoke(app, ["train", *sets, "--out", "run", "--quiet"]).exit_code == 0
    r = runner.invoke(app, ["sample", "run", "-n", "2", "--out", "nets"])
    assert r.exit_code == 0 and "wrote 2 networks" in r.output, r.output
    (tmp_path / "sets").rename(tmp_path / "moved")
    r = runner.invoke(app, ["evaluate", "run", "--split", "val", "--networks", "2", "--quiet",
                            "--data-dir", "moved"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "metrics-val.json").read_text())["n_examples"] == 6
    from hyperzoo.data import DataError, load_dataset

    empty = tmp_path / "moved" / "emptytest.npz"
    np.savez(empty, x_train=np.zeros((10, 8, 8), np.float32), y_train=np.zeros(10, np.int64),
             x_test=np.zeros((0, 8, 8), np.float32), y_test=np.zeros(0, np.int64))
    with pytest.raises(DataError, match=r"dataset 'emptytest' \(.*\): its test split has no examples"):
        load_dataset(str(empty), "test")  # it broke evaluate and ood later (an empty concatenation)

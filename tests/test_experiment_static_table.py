"""experiments/static_table.py end to end on a tiny synthetic MNIST (the script is ours: loaded
from the repository, not from user files): every column of its report is filled in."""

import gzip
import json
import struct

import numpy as np

from tests.helpers import load_experiment


def write_mnist(folder, n_train=96, n_test=32):
    """IDX files of random 28 x 28 images with MNIST's names (other sizes: no checksum applies)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
            with gzip.open(folder / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(header + arr.astype(np.uint8).tobytes())


def test_every_row_reports_its_validation_time_and_counts(tmp_path, monkeypatch):
    write_mnist(tmp_path / "data" / "mnist")
    table = load_experiment("static_table")
    monkeypatch.setattr("sys.argv", [
        "static_table.py", "--data-dir", str(tmp_path / "data"), "--rows", "ConvModel,Hyper4_4",
        "--steps", "3", "--threads", "1", "--quiet", "--runs", str(tmp_path / "runs"),
        "--out", str(tmp_path / "out"), "--set", "train.val_every=1", "--set", "train.images_per_noise=16"])
    table.main()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    rows = {r["model"]: r for r in report["rows"]}
    # The seed's counts (Table 2/7): the ordinary model's kernels, the hypernetwork's parameters.
    assert (rows["ConvModel"]["parameters"], rows["Hyper4_4"]["parameters"]) == (12_560, 4_244)
    for r in rows.values():
        assert 0 <= r["best_val_accuracy"] <= 1 and 1 <= r["best_step"] <= 3
        assert r["train_seconds"] > 0 and 0 <= r["test_accuracy"] <= 1
    # Reused on a second invocation, with the same numbers (times from the checkpoints).
    table.main()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["rows"] == report["rows"]
    assert "| ConvModel | 98.67% | 12,560 | 12,560 |" in (tmp_path / "out" / "report.md").read_text()
    # One row again on its own: the other stays in the report (it was dropped).
    import sys

    monkeypatch.setattr("sys.argv", [a if a != "ConvModel,Hyper4_4" else "Hyper4_4" for a in sys.argv])
    table.main()
    again = json.loads((tmp_path / "out" / "report.json").read_text())["rows"]
    assert [r["model"] for r in again] == ["ConvModel", "Hyper4_4"] and again == report["rows"]

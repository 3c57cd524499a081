"""Reopening a run's pieces: the training images used for batch-norm statistics."""

import numpy as np
import torch

from hyperzoo.data import load_dataset
from hyperzoo.session import build_session, statistics_images
from tests.helpers import tiny_config


def test_statistics_images_are_the_runs_own_training_split(tmp_path):
    # With data.val_fraction, evaluation's statistics must not see the held-out examples.
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.random((40, 8, 8), dtype=np.float32), y_train=np.arange(40) % 10,
             x_test=rng.random((10, 8, 8), dtype=np.float32), y_test=np.arange(10))
    config = tiny_config(f"data.dataset={path}", "data.val_fraction=0.5")
    session = build_session(config, with_data=False)
    train = load_dataset(str(path), "train", val_fraction=0.5)
    assert len(train) == 20
    assert torch.equal(statistics_images(session), train.x)

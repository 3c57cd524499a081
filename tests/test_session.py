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


def test_a_subset_for_statistics_is_drawn_from_the_whole_split(tmp_path):
    """data.bn_examples of a file sorted by class took its first classes alone."""
    path = tmp_path / "sorted.npz"
    y = np.repeat(np.arange(10), 20)  # 200 examples, class by class
    np.savez(path, x_train=np.random.default_rng(0).random((200, 8, 8), dtype=np.float32), y_train=y,
             x_test=np.zeros((10, 8, 8), dtype=np.float32), y_test=np.arange(10))
    session = build_session(tiny_config(f"data.dataset={path}", "data.val_fraction=0", "data.val_split=test",
                                        "data.bn_examples=60"), with_data=False)
    kept = statistics_images(session)
    train = session.train_data
    rows = [int(torch.nonzero((train.x == row).all(-1).all(-1).all(-1))[0]) for row in kept]
    assert len(set(rows)) == 60 and rows == sorted(rows)  # distinct examples, in data order
    assert len(set(train.y[rows].tolist())) == 10
    assert torch.equal(statistics_images(session), kept)  # the same subset every time

"""scikit-learn's 8x8 handwritten digits: the default data set, shipped with scikit-learn."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

SPLITS = ("train", "val", "test", "trainval")
HELD_OUT = 300  # examples in each of val and test; the remaining 1,197 are train


@lru_cache(maxsize=1)
def _arrays() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    bunch = load_digits()
    x = torch.from_numpy(np.asarray(bunch.images / 16.0, dtype=np.float32)).unsqueeze(1)
    return x, torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))


def digits_indices(split: str) -> torch.Tensor:
    """Indices into ``load_digits()`` of one split.

    A fixed permutation (its own torch generator, seeded 0) gives val its first 300 examples,
    test the next 300 and train the rest; trainval is train followed by val.
    """
    perm = torch.randperm(len(_arrays()[1]), generator=torch.Generator().manual_seed(0))
    val, test, train = perm[:HELD_OUT], perm[HELD_OUT : 2 * HELD_OUT], perm[2 * HELD_OUT :]
    return {"train": train, "val": val, "test": test, "trainval": torch.cat([train, val])}[split]


def digits_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of one split: x float32 (n, 1, 8, 8) in [0, 1], y int64 (n,)."""
    x, y = _arrays()
    idx = digits_indices(split)
    # Indexing copies, so callers cannot alter the cached arrays.
    return x[idx], y[idx]

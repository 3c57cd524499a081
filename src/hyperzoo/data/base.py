"""The dataset container every loader returns, and the error every loader raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from hyperzoo.errors import DataError

__all__ = ["VAL_PICKS", "DataError", "Dataset", "ValPick", "holdout"]

# How a data set of your own gives up its validation examples: "random", a fixed pseudo-random
# subset (the same for every run and seed); "last", its last ones, as every run before
# 2026-12-06 did (class-sorted data then never trained on its last classes).
ValPick = Literal["random", "last"]
VAL_PICKS: tuple[str, ...] = get_args(ValPick)


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a data set, held in memory.

    Classification: ``x`` is float32 ``(n, C, H, W)`` scaled to [0, 1] (or any ``(n, *shape)``)
    and ``y`` int64 ``(n,)`` with ``num_classes`` classes. Regression (``num_classes == 0``):
    ``y`` is float32 ``(n,)``, one real target per example.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    split: str
    num_classes: int

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 or self.x.dim() < 2:
            raise DataError(
                f"{self.name}/{self.split}: x must be float32 (n, C, H, W) or (n, *shape), "
                f"got {self.x.dtype} {tuple(self.x.shape)}"
            )
        dtype = torch.float32 if self.task == "regression" else torch.int64
        if self.y.dtype != dtype or self.y.shape != (self.x.shape[0],):
            raise DataError(
                f"{self.name}/{self.split}: y must be {str(dtype).removeprefix('torch.')} "
                f"({self.x.shape[0]},) for {self.task}, got {self.y.dtype} {tuple(self.y.shape)}"
            )

    @property
    def task(self) -> str:
        """``"classification"``, or ``"regression"`` for a set with no classes."""
        return "regression" if self.num_classes == 0 else "classification"

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, ``(C, H, W)`` for images."""
        return tuple(self.x.shape[1:])

    def __repr__(self) -> str:
        # The default repr would print both tensors in full.
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )


def holdout(n: int, n_val: int, pick: str) -> tuple[torch.Tensor | slice, torch.Tensor | slice]:
    """Indices (or slices) of the training and the validation examples among ``n``, ``n_val`` of
    them held out as ``pick`` (`VAL_PICKS`) says; each keeps the examples' order."""
    if pick == "last":
        return slice(None, n - n_val), slice(n - n_val, None)
    if pick != "random":
        raise DataError(f"data.val_pick {pick!r} is not one of {', '.join(map(repr, VAL_PICKS))}")
    # The n_val indices of lowest splitmix64 hash: integer arithmetic, so a run's validation set
    # stays the same under any torch or numpy version (a generator's stream may change).
    order = np.argsort(_splitmix64(np.arange(n, dtype=np.uint64)), kind="stable")
    val = torch.zeros(n, dtype=torch.bool)
    val[torch.from_numpy(order[:n_val])] = True
    return (~val).nonzero()[:, 0], val.nonzero()[:, 0]


def _splitmix64(i: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser of ``i`` (uint64, wrapping as the algorithm does)."""
    with np.errstate(over="ignore"):
        z = i + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

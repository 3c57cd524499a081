"""The dataset container every loader returns, and the error every loader raises."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hyperzoo.errors import DataError

__all__ = ["DataError", "Dataset"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a classification data set, held in memory.

    ``x`` is float32 of shape ``(n, C, H, W)`` scaled to [0, 1]; ``y`` is int64 of shape ``(n,)``.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    split: str
    num_classes: int

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 or self.x.dim() != 4:
            raise DataError(
                f"{self.name}/{self.split}: x must be float32 (n, C, H, W), "
                f"got {self.x.dtype} {tuple(self.x.shape)}"
            )
        if self.y.dtype != torch.int64 or self.y.shape != (self.x.shape[0],):
            raise DataError(
                f"{self.name}/{self.split}: y must be int64 ({self.x.shape[0]},), "
                f"got {self.y.dtype} {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one example, ``(C, H, W)``."""
        c, h, w = self.x.shape[1:]
        return (c, h, w)

    def __repr__(self) -> str:
        # The default repr would print both tensors in full.
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )

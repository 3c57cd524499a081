"""Seed 002 §4.3's 1-D regression set: y = x³ + ε, ε ~ N(0, 3²), x ~ U[−4, 4].

The training split is the paper's 20 points; validation (200) and test (1,000) points come from
the same distribution with their own seeds, so that held-out error is measured where the data
are. Outside [−4, 4] there are no data at all: that is where sampled networks should disagree.
"""

from __future__ import annotations

import torch

SPLITS = ("train", "val", "test")
X_RANGE = 4.0
NOISE_STD = 3.0
_SIZES = {"train": 20, "val": 200, "test": 1000}
_SEEDS = {"train": 0, "val": 1, "test": 2}


def cubic(x: torch.Tensor) -> torch.Tensor:
    """The noise-free function, y = x³."""
    return x**3


def cubic_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(n, 1)`` and targets ``(n,)`` of one split (float32, fixed seeds)."""
    g = torch.Generator().manual_seed(_SEEDS[split])
    x = (torch.rand(_SIZES[split], 1, generator=g) * 2 - 1) * X_RANGE
    y = cubic(x[:, 0]) + NOISE_STD * torch.randn(_SIZES[split], generator=g)
    return x, y

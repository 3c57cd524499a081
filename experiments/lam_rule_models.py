"""Two MNIST targets that are in none of the papers, for checking the starting-λ rule
(experiments/lam_rule.py): a small CNN and a deeper, wider MLP."""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Sequential):
    """3×3 convs of 8 and 16 channels, 2×2 pooling, a 32-unit dense layer: 26,698 weights."""

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 32), nn.ReLU(),
            nn.Linear(32, 10),
        )


class DeepMLP(nn.Sequential):
    """784 → 128 → 128 → 64 → 10, ReLU: 125,898 weights, 6× the paper's MNIST net."""

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Flatten(),
            nn.Linear(784, 128), nn.ReLU(),
            nn.Linear(128, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )

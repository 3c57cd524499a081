"""The papers' target networks as plain ``nn.Module`` classes."""

from __future__ import annotations

from torch import nn


class DeutschMNIST(nn.Sequential):
    """Seed 000/001 Table 1: 20,018 weights (832 + 12,816 + 6,280 + 90)."""

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(7 * 7 * 16, 8), nn.ReLU(),
            nn.Linear(8, 10),
        )


class HyperGANMNIST(nn.Sequential):
    """Seed 002's MNIST target: conv 32×1×5×5, conv 32×32×5×5, linear 512→10, no biases.

    Biases are left out as in the reference implementation.
    """

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 32, 5, bias=False), nn.LeakyReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 5, bias=False), nn.LeakyReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(512, 10, bias=False),
        )


class HyperGANCIFAR(nn.Sequential):
    """Seed 002's CIFAR-10 target: conv 16/32/64 of 3×3, linear 256→128→10, no biases."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(3, 16, 3, bias=False), nn.LeakyReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, bias=False), nn.LeakyReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, bias=False), nn.LeakyReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(256, 128, bias=False), nn.LeakyReLU(),
            nn.Linear(128, num_classes, bias=False),
        )


class LeNetCIFAR(nn.Sequential):
    """Seed 003's CIFAR-10 LeNet: 456, 2,416, 48,120, 10,164 and 850 weights."""

    input_shape = (3, 32, 32)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),
        )


class DigitsNet(nn.Sequential):
    """A small conv net for the embedded 8×8 digits (4,890 weights)."""

    input_shape = (1, 8, 8)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64, 32), nn.ReLU(),
            nn.Linear(32, 10),
        )

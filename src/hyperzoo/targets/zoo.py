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


class StaticMNIST(nn.Sequential):
    """Seed 004 §3.1's two-layer MNIST conv net (Ha et al.'s): 21,210 weights.

    conv 7×7 1→16 (same) → ReLU → max-pool 2 → conv 7×7 16→16 (same) → ReLU → max-pool 2 →
    linear 7·7·16 = 784 → 10. Layer sizes 800 + 12,560 + 7,850 = 21,210, the seed's "total
    parameters" (Table 6). Its "12,560 kernel parameters" of the second layer are the
    7·7·16·16 = 12,544 kernel weights plus the 16 biases; the static hypernetwork generates
    that 16×16×7×7 kernel.
    """

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 16, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(7 * 7 * 16, 10),
        )


class VGGCIFAR(nn.Sequential):
    """Seed 004 Table 1: VGG-Block1/2/3 for CIFAR-10 (``blocks`` = 1, 2 or 3).

    Block k: two 3×3 convs (same padding) of 16·2^(k-1) channels with ReLU, max-pool 2,
    dropout; then linear → 128 → ReLU → dropout → 10. The seed gives dropout 0.4 after each
    block and leaves the dense dropout a hyperparameter (``dense_dropout``). Weights after the
    first conv, as its Tables 3–5 count them (kernels and biases): 2,320 (Block1), 16,208
    (Block2), 71,632 (Block3).
    """

    input_shape = (3, 32, 32)

    def __init__(self, blocks: int = 1, dropout: float = 0.4, dense_dropout: float = 0.4,
                 num_classes: int = 10) -> None:
        if blocks not in (1, 2, 3):
            raise ValueError(f"VGGCIFAR has 1, 2 or 3 blocks, got {blocks}")
        layers: list[nn.Module] = []
        channels = 3
        for k in range(blocks):
            width = 16 * 2 ** k
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2), nn.Dropout(dropout)]
            channels = width
        side = 32 // 2 ** blocks
        layers += [nn.Flatten(), nn.Linear(channels * side * side, 128), nn.ReLU(),
                   nn.Dropout(dense_dropout), nn.Linear(128, num_classes)]
        super().__init__(*layers)

"""The papers' target networks as plain ``nn.Module`` classes."""

from __future__ import annotations

import torch
from torch import nn


def pool_then(activation: nn.Module) -> list[nn.Module]:
    """Max-pool 2 followed by ``activation``: the same function as the seeds' activation then
    pool (max commutes with a non-decreasing activation; tested), with the activation and its
    backward on a quarter of the elements. In the Deutsch MNIST step's profile ReLU fell from
    0.028 s to 0.006 s; activation then pool took 1.10 +- 0.14 x the step's time in 16 rounds
    (1.05 +- 0.06, 1.03 +- 0.14 and 1.02 +- 0.04 in earlier runs;
    bench/results/step_rounds_cpu_2threads*.json)."""
    return [nn.MaxPool2d(2), activation]


class DeutschMNIST(nn.Sequential):
    """Seed 000/001 Table 1: 20,018 weights (832 + 12,816 + 6,280 + 90)."""

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 32, 5, padding=2), *pool_then(nn.ReLU()),
            nn.Conv2d(32, 16, 5, padding=2), *pool_then(nn.ReLU()),
            nn.Flatten(),
            nn.Linear(7 * 7 * 16, 8), nn.ReLU(),
            nn.Linear(8, 10),
        )


# Per-channel means and standard deviations of training pixels in [0, 1].
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class Standardized(nn.Sequential):
    """A sequence of layers on images, optionally standardised first, ``(x - mean) / std`` per
    channel with the class's fixed ``mean`` and ``std``: no parameters, nothing generated. The
    flag adds no parameter: a network exported with one setting loads without error into a
    module built with the other and then computes another function, so build it with the run's
    ``target_kwargs`` (``manifest.json``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, *layers: nn.Module, standardize: bool) -> None:
        super().__init__(*layers)
        self.standardize = standardize
        # Buffers, so they move with the module: built from Python floats at every call they
        # were a blocking host-to-device copy per forward on a GPU. Not persistent, so neither
        # state dicts nor exported networks hold them.
        self.register_buffer("channel_mean", torch.tensor(self.mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("channel_std", torch.tensor(self.std).view(-1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward((x - self.channel_mean) / self.channel_std if self.standardize else x)


class StandardizedCIFAR(Standardized):
    """`Standardized` with CIFAR-10's channel statistics."""

    input_shape = (3, 32, 32)
    mean, std = CIFAR_MEAN, CIFAR_STD


class HyperGANMNIST(Standardized):
    """Seed 002's MNIST target: conv 32×1×5×5, conv 32×32×5×5, linear 512→10, no biases.

    Biases are left out as in the reference implementation. ``standardize`` maps pixels to
    (x − 0.1307) / 0.3081 first, as the reference code's MNIST and notMNIST loaders do; off by
    default so that runs saved before it existed keep their raw-pixel inputs."""

    input_shape = (1, 28, 28)
    mean, std = MNIST_MEAN, MNIST_STD

    def __init__(self, standardize: bool = False) -> None:
        super().__init__(
            nn.Conv2d(1, 32, 5, bias=False), *pool_then(nn.LeakyReLU()),
            nn.Conv2d(32, 32, 5, bias=False), *pool_then(nn.LeakyReLU()),
            nn.Flatten(),
            nn.Linear(512, 10, bias=False),
            standardize=standardize,
        )


class HyperGANCIFAR(StandardizedCIFAR):
    """Seed 002's CIFAR-10 target: conv 16/32/64 of 3×3, linear 256→128→10, no biases.

    ``standardize`` maps pixels in [0, 1] to zero mean and unit variance per channel first, as
    seed 002's reference code does (with deviations 0.20 where ours are CIFAR-10's 0.25: a
    scale the first layer absorbs). Off by default so that runs saved before it existed, whose
    configs do not name it, keep their raw-pixel inputs; the CIFAR recipes turn it on."""

    def __init__(self, num_classes: int = 10, standardize: bool = False) -> None:
        super().__init__(
            nn.Conv2d(3, 16, 3, bias=False), *pool_then(nn.LeakyReLU()),
            nn.Conv2d(16, 32, 3, bias=False), *pool_then(nn.LeakyReLU()),
            nn.Conv2d(32, 64, 3, bias=False), *pool_then(nn.LeakyReLU()),
            nn.Flatten(),
            nn.Linear(256, 128, bias=False), nn.LeakyReLU(),
            nn.Linear(128, num_classes, bias=False),
            standardize=standardize,
        )
        self.num_classes = num_classes  # read back by hyperzoo.fit to record the constructor call


class LeNetCIFAR(StandardizedCIFAR):
    """Seed 003's CIFAR-10 LeNet: 456, 2,416, 48,120, 10,164 and 850 weights (8,500 for its
    CIFAR-100 row, ``num_classes=100``). Its table says padding 'SAME' for the convolutions, but
    fc1's 48,120 weights (400 inputs: a 16 x 5 x 5 map) need valid ones (32 -> 28 -> 14 -> 10 -> 5):
    the counts are kept.

    ``standardize`` (default) first maps pixels in [0, 1] to zero mean and unit variance per
    channel. On raw [0, 1] pixels every input is positive, so a step that shifts all first-layer
    weights down together (as a shared weight generator's first Adam steps do) kills every unit:
    the hypernetwork sat at chance for 500+ steps with 0.02% of conv1's units active."""

    def __init__(self, num_classes: int = 10, standardize: bool = True) -> None:
        super().__init__(
            nn.Conv2d(3, 6, 5), *pool_then(nn.ReLU()),
            nn.Conv2d(6, 16, 5), *pool_then(nn.ReLU()),
            nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
            standardize=standardize,
        )
        self.num_classes = num_classes


class DigitsNet(nn.Sequential):
    """A small conv net for the embedded 8×8 digits (4,890 weights)."""

    input_shape = (1, 8, 8)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 16, 3, padding=1), *pool_then(nn.ReLU()),
            nn.Conv2d(16, 16, 3, padding=1), *pool_then(nn.ReLU()),
            nn.Flatten(),
            nn.Linear(64, 32), nn.ReLU(),
            nn.Linear(32, 10),
        )


class StaticMNIST(nn.Sequential):
    """Seed 004 §3.1's two-layer MNIST conv net (Ha et al.'s): 21,210 weights.

    conv 7×7 1→16 (same) → max-pool 2 → ReLU → conv 7×7 16→16 (same) → max-pool 2 → ReLU →
    linear 7·7·16 = 784 → 10. Layer sizes 800 + 12,560 + 7,850 = 21,210, the seed's "total
    parameters" (Table 6). Its "12,560 kernel parameters" of the second layer are the
    7·7·16·16 = 12,544 kernel weights plus the 16 biases; the static hypernetwork generates
    that 16×16×7×7 kernel.
    """

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 16, 7, padding=3), *pool_then(nn.ReLU()),
            nn.Conv2d(16, 16, 7, padding=3), *pool_then(nn.ReLU()),
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
                       nn.Conv2d(width, width, 3, padding=1), *pool_then(nn.ReLU()),
                       nn.Dropout(dropout)]
            channels = width
        side = 32 // 2 ** blocks
        layers += [nn.Flatten(), nn.Linear(channels * side * side, 128), nn.ReLU(),
                   nn.Dropout(dense_dropout), nn.Linear(128, num_classes)]
        super().__init__(*layers)


class BasicBlock(nn.Module):
    """He et al.'s basic residual block: conv 3×3 → BN → ReLU → conv 3×3 → BN, plus the
    shortcut, then ReLU. Where the shape changes the shortcut is a 1×1 convolution with batch
    norm (option B), so every channel map is a layer the gauges can follow."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = nn.functional.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return nn.functional.relu(out + self.shortcut(x))


class CIFARResNet(nn.Module):
    """He et al. (2016) §4.2's CIFAR ResNet (seed 003's ResNet-32 at the defaults).

    conv 3×3 → BN → ReLU, three stages of ``(depth - 2) / 6`` basic blocks with ``widths``
    channels (stride 2 entering stages 2 and 3), global average pooling, linear → classes.
    Depth 32: 5 blocks per stage, 16/32/64 channels, 466,906 parameters with option-B
    shortcuts (He et al.'s "0.46M" counts option A, zero-padded identity shortcuts: 464,154);
    the projections add 2,752. ``in_channels`` and ``widths`` let tests and CPU runs shrink it.
    """

    input_shape = (3, 32, 32)

    def __init__(self, depth: int = 32, widths: list[int] | tuple[int, int, int] = (16, 32, 64),
                 num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFARResNet depth must be 6n + 2 (8, 14, 20, 32, ...), got {depth}")
        if len(widths) != 3:
            raise ValueError(f"CIFARResNet has three stages; widths {list(widths)} has {len(widths)}")
        blocks = (depth - 2) // 6
        self.conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers: list[nn.Module] = []
        cin = widths[0]
        for stage, width in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, width, 2 if stage > 0 and b == 0 else 1))
                cin = width
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = nn.functional.relu(self.bn(self.conv(x)))
        return self.fc(self.pool(self.stages(x)).flatten(1))


class Scale(nn.Module):
    """Multiplies by a fixed number: no parameters, nothing generated."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


class RegressionMLP(nn.Sequential):
    """Seed 002 §4.3's regression target: ``in_features`` → ``hidden`` ReLU → 1 (301 weights with
    the defaults), its output multiplied by a fixed ``output_scale``: a network initialised at
    unit output scale then starts at the scale of the targets (for y = x³ on [−4, 4]: 4³/√7 ≈ 24.2,
    the standard deviation of x³ for x ~ U[−4, 4]) without any weight having to grow there."""

    input_shape = (1,)

    def __init__(self, in_features: int = 1, hidden: int = 100, output_scale: float = 1.0) -> None:
        super().__init__(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1),
                         Scale(output_scale))


class Point(nn.Linear):
    """A point of the plane as a network: the 2×1 weight of ``nn.Linear(1, 2, bias=False)``, so
    that f(1) is the point (seed 000's toy problem, method ``toy_mixture``)."""

    input_shape = (1,)

    def __init__(self) -> None:
        super().__init__(1, 2, bias=False)

"""Training-time augmentation of a minibatch, drawn from the trainer's own generator."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

Augmentation = Literal["none", "crop", "crop_flip"]
AUGMENTATIONS: tuple[str, ...] = get_args(Augmentation)


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad images ``x`` (B, C, H, W) by ``pad`` on every side and crop a random H × W
    window from each (seed 004: MNIST 28 → 30 → 28, CIFAR 32 → 36 → 32)."""
    if pad <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    # Offsets on the CPU generator (the trainer's), then moved: the draw is device-independent.
    dy, dx = torch.randint(2 * pad + 1, (2, b, 1), generator=generator).to(x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indices around a slice put their broadcast dims first: (B, H, W, C).
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image of ``x`` (B, C, H, W) left to right with probability 1/2 (seed 002's
    CIFAR training, torchvision's ``RandomHorizontalFlip``)."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment(x: torch.Tensor, kind: str, pad: int, generator: torch.Generator | None = None
            ) -> torch.Tensor:
    """Apply augmentation ``kind`` (one of ``AUGMENTATIONS``) to a batch (B, C, H, W)."""
    if kind == "none":
        return x
    if kind == "crop":
        return random_crop(x, pad, generator)
    if kind == "crop_flip":
        return random_flip(random_crop(x, pad, generator), generator)
    raise ValueError(f"data.augment {kind!r} is not one of {', '.join(map(repr, AUGMENTATIONS))}")

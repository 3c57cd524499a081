"""Tiny configs for fast end-to-end tests (digits data, a small hypernetwork)."""

from torch import nn

from hyperzoo.config import Config, load_config

TINY = [
    "method.z_dim=8", "method.code_size=4", "method.extractor_hidden=[16]",
    "method.generator_hidden=[16]", "train.noise_batch=4", "train.images_per_noise=8",
    "train.val_every=3", "train.val_networks=3", "train.checkpoint_every=2", "data.val_limit=40",
]


def tiny_config(*overrides: str) -> Config:
    return load_config(None, [*TINY, *overrides])


class DropoutNet(nn.Sequential):
    """A digits target with dropout, named by import path in tests (``tests.helpers:DropoutNet``)."""

    def __init__(self, hidden: int = 16):
        super().__init__(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(hidden, 10))


class TanhNet(nn.Sequential):
    """A digits target the scale gauge does not fit (tanh is not positively homogeneous)."""

    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))

"""Tiny configs for fast end-to-end tests (digits data, a small hypernetwork)."""

from hyperzoo.config import Config, load_config

TINY = [
    "method.z_dim=8", "method.code_size=4", "method.extractor_hidden=[16]",
    "method.generator_hidden=[16]", "train.noise_batch=4", "train.images_per_noise=8",
    "train.val_every=3", "train.val_networks=3", "train.checkpoint_every=2", "data.val_limit=40",
]


def tiny_config(*overrides: str) -> Config:
    return load_config(None, [*TINY, *overrides])

"""The cheap-baseline experiment configs: each loads, builds on its own target, and trains a few
steps on the embedded digits (the MNIST/CIFAR runs themselves are not tests)."""

from pathlib import Path

import pytest

from hyperzoo.config import load_config
from hyperzoo.methods import build_method
from hyperzoo.runs import read_metrics
from hyperzoo.targets import TargetNet, build_target
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
CONFIGS = ["sgd_mnist_cpu", "snapshots_mnist_cpu", "gaussian_noise_mnist_cpu", "sgd_lenet_cifar10_paper",
           "sgd_lenet_cifar10_cpu", "snapshots_lenet_cifar10_paper", "snapshots_lenet_cifar10_cpu",
           "sgd_chains_lenet_cifar10_paper"]
INPUT = {"deutsch_mnist": (1, 28, 28), "lenet_cifar": (3, 32, 32)}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_on_its_target(name):
    cfg = load_config(EXPERIMENTS / f"{name}.yaml")
    target = TargetNet(build_target(cfg.target.name), INPUT[cfg.target.name])
    method = build_method(target, cfg.method)
    if cfg.method["name"] == "snapshots":
        m = cfg.method  # all `size` snapshots are taken before the run ends
        assert m["burn_in"] + (m["size"] - 1) * m["every"] < cfg.train.steps
        assert cfg.train.lr_schedule == "constant"
    else:
        assert method.max_networks in (None, 1, 10)
    assert cfg.train.noise_batch == (10 if "chains" in name else 1)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_trains_on_digits(tmp_path, name):
    overrides = ["target.name=digits_net", "data.dataset=digits", "data.val_limit=40", "train.steps=6",
                 "train.val_every=3", "train.checkpoint_every=3", "train.images_per_noise=16"]
    if "snapshots" in name:
        overrides += ["method.burn_in=2", "method.every=1"]
    cfg = load_config(EXPERIMENTS / f"{name}.yaml", overrides)
    train(cfg, tmp_path, argv=["x"], progress=False)
    assert [r["step"] for r in read_metrics(tmp_path)] == list(range(1, 7))
    m = evaluate_run(tmp_path, n_networks=10, split="val", progress=False)
    expected = {"ensemble": cfg.method.get("size"), "snapshots": 4, "gaussian_noise": 10}
    assert m["n_networks"] == expected[cfg.method["name"]]

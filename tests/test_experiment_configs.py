"""Every committed experiment config loads, and its method builds on its target; every sweep
spec's settings resolve to valid configs. (The runs themselves are not tests: a typo in a key
would otherwise show only minutes into a run.)"""

from pathlib import Path

import pytest
import torch
import yaml

from hyperzoo.config import load_config
from hyperzoo.methods import build_method
from hyperzoo.targets import TargetNet, build_target

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SPECS = sorted(EXPERIMENTS.glob("sweep_*.yaml"))
CONFIGS = sorted(p for p in EXPERIMENTS.glob("*.yaml") if p not in SPECS)
# Input shapes of the data sets the configs name (no data is read).
SHAPES = {"mnist": (1, 28, 28), "mnist-5000": (1, 28, 28), "digits": (1, 8, 8), "cifar10": (3, 32, 32),
          "cifar10-5000": (3, 32, 32), "cifar5": (3, 32, 32), "cifar100": (3, 32, 32), "cubic": (1,)}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_its_method(path):
    cfg = load_config(path)
    module = build_target(cfg.target.name, cfg.target.kwargs)
    shape = SHAPES.get(cfg.data.dataset) or tuple(cfg.target.input_shape or module.input_shape)
    method = build_method(TargetNet(module, shape), cfg.method)
    n = min(2, method.max_networks or 2)
    weights = method.sample(n, generator=torch.Generator().manual_seed(0))
    assert all(w.shape[0] == n for w in weights.values())


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_sweep_settings_resolve(spec):
    s = yaml.safe_load(spec.read_text())
    for setting in s["settings"]:
        base = [] if "config" in setting else s.get("set", [])
        root = Path(__file__).resolve().parents[1]
        load_config(root / setting.get("config", s["config"]), [*base, *setting.get("set", [])])

"""Seed 003 Appendix H: the CIFAR hypernetworks' options and the parameter counts of Table 6."""

from pathlib import Path

import pytest
import torch

from hyperzoo.config import load_config
from hyperzoo.methods import build_method
from hyperzoo.methods.mlp import Residual
from hyperzoo.targets import TargetNet, build_target

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def method_of(config_name: str, *overrides: str):
    cfg = load_config(EXPERIMENTS / config_name, list(overrides))
    module = build_target(cfg.target.name, cfg.target.kwargs)
    return build_method(TargetNet(module, (3, 32, 32)), cfg.method)


def test_lenet_generators_match_table_6():
    m = method_of("deutsch_lenet_cifar10_paper.yaml")
    counts = [sum(p.numel() for p in g.parameters()) for g in m.generators]
    # 8·400 + 400·400 + 400·out, out = a filter (76, 151, 401) or a whole layer (10,164; 850).
    assert counts == [193_600, 223_600, 323_600, 4_228_800, 503_200]
    assert m.units == [6, 16, 120, 1, 1]
    assert m.config.noise == "normal"


@pytest.mark.parametrize("name", ["deutsch_resnet32_cifar10_paper.yaml",
                                  "deutsch_resnet_cifar10_reduced.yaml", "deutsch_lenet_cifar10_cpu.yaml",
                                  "deutsch_lenet_cifar100_cpu.yaml"])
def test_cifar_configs_build_and_sample(name):
    m = method_of(name, "method.z_dim=16") if "paper" in name else method_of(name)
    w = m.eval().sample(2, generator=torch.Generator().manual_seed(0))
    assert w.keys() == m.target.param_shapes.keys()
    if "resnet" in name:
        # Skip connections around the equal-width hidden layers; batch norm parameters generated.
        assert any(isinstance(layer, Residual) for layer in m.extractor)
        assert all(any(isinstance(layer, Residual) for layer in g) for g in m.generators)
        assert "stages.0.bn1.weight" in w
    if "cifar100" in name:  # seed 003's CIFAR-100 row: the LeNet with 100 outputs
        assert w["11.weight"].shape == (2, 100, 84)


def test_resnet32_codes_are_proportional_to_filters():
    m = method_of("deutsch_resnet32_cifar10_paper.yaml", "method.z_dim=16")
    convs = [s for s in m.target.layers if s.kind == "conv"]
    assert len(convs) == 33 and m.units[:-1] == [s.out_units for s in convs]
    assert m.extractor[-1].weight.shape[0] == m.config.code_size * sum(m.units)


def test_skip_connection_adds_the_input():
    block = Residual(torch.nn.Linear(3, 3, bias=False))
    x = torch.randn(2, 3)
    torch.testing.assert_close(block(x), x + block[0](x))


@pytest.mark.parametrize("config_name", ["deutsch_lenet_cifar10_paper.yaml",
                                         "deutsch_resnet_cifar10_reduced.yaml"])
def test_generators_without_batch_norm_start_near_he_scale(config_name):
    """Without batch norm in the hypernetwork (seed 003 §H) nothing restores the activations'
    scale: PyTorch's default initialisation gave LeNet weights at 1/60 of He scale (a network
    whose logits are all ~0, at chance for hundreds of steps)."""
    import math

    torch.manual_seed(0)
    m = method_of(config_name)
    assert m.config.batch_norm is False
    w = m.sample(8, generator=torch.Generator().manual_seed(0))
    for layer in m.target.layers:
        he = math.sqrt(2 / layer.fan_in)
        assert 0.5 * he < w[layer.weight].std().item() < 2.5 * he, layer.name

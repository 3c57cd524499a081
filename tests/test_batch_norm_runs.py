"""Batch-norm targets end to end: every method generates the norm parameters, and trained runs
are validated, evaluated and exported with each network's own running statistics."""


import pytest
import torch

from hyperzoo.config import load_config
from hyperzoo.methods import build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import CIFARResNet

RESNET = ["target.name=resnet_cifar", "target.kwargs={depth: 8, widths: [4, 6, 8], in_channels: 1}",
          "data.bn_examples=64", "data.bn_batch=32"]
METHODS = {
    "deutsch": ["method.name=deutsch", "method.z_dim=8", "method.code_size=4",
                "method.extractor_hidden=[16]", "method.generator_hidden=[16]"],
    "hypergan": ["method.name=hypergan", "method.z_dim=8", "method.code_size=4", "method.mixer_hidden=[16]",
                 "method.generator_hidden=[16]", "method.discriminator_hidden=[16]",
                 "method.pretrain_steps=1"],
    "ensemble": ["method.name=ensemble", "method.size=4"],
    "mc_dropout": ["method.name=mc_dropout", "method.p=0.0"],  # no masks: the scales as trained
    "static": ["method.name=static", "method.tile=2", "method.generated=['stages.1.conv2']"],
}


def small_resnet() -> CIFARResNet:
    return CIFARResNet(depth=8, widths=[4, 6, 8], in_channels=1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_generates_norm_scale_and_shift(name):
    module = small_resnet()
    target = TargetNet(module, (1, 8, 8))
    config = load_config(None, METHODS[name])
    method = build_method(target, config.method)
    weights = method.sample(4, generator=torch.Generator().manual_seed(0))
    assert weights.keys() == target.param_shapes.keys()
    scales = torch.cat([weights[s.norm_scale].flatten() for s in target.layers if s.norm_scale])
    shifts = torch.cat([weights[s.norm_shift].flatten() for s in target.layers if s.norm_shift])
    # Initialised near the identity normalisation: scale near 1, shift near 0.
    assert (scales - 1).abs().mean() < 0.5 and shifts.abs().mean() < 0.5
    module.train()
    out = target(weights, torch.randn(4, 5, 1, 8, 8))
    assert out.shape == (4, 5, 10) and out.isfinite().all()

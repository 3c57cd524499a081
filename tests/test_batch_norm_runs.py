"""Batch-norm targets end to end: every method generates the norm parameters, and trained runs
are validated, evaluated and exported with each network's own running statistics."""

import json

import pytest
import torch
from safetensors.torch import load_file

from hyperzoo.config import load_config
from hyperzoo.methods import METHODS as REGISTERED
from hyperzoo.methods import build_method
from hyperzoo.session import load_run
from hyperzoo.targets import TargetNet, build_target
from hyperzoo.targets.zoo import CIFARResNet
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run, export_networks
from tests.helpers import method_overrides, tiny_config

RESNET = ["target.name=resnet_cifar", "target.kwargs={depth: 8, widths: [4, 6, 8], in_channels: 1}",
          "data.bn_examples=64", "data.bn_batch=32"]
# Every method's tiny settings (none left out: a new method is tested here as it is registered),
# with what this target needs of some.
ON_RESNET = {
    "hypergan": ["method.pretrain_steps=1"],
    "mc_dropout": ["method.p=0.0"],  # no masks: the scales as trained
    "gaussian_noise": ["method.sigma=0.1"],
    "static": ["method.tile=2", "method.generated=['stages.1.conv2']"],
}
METHODS = {name: [*method_overrides(name), *ON_RESNET.get(name, [])]
           for name in REGISTERED if name != "toy_mixture"}


def small_resnet() -> CIFARResNet:
    return CIFARResNet(depth=8, widths=[4, 6, 8], in_channels=1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_generates_norm_scale_and_shift(name):
    module = small_resnet()
    target = TargetNet(module, (1, 8, 8))
    config = load_config(None, METHODS[name])
    method = build_method(target, config.method)
    n = min(4, method.max_networks or 4)  # snapshots: the current network until one is taken
    weights = method.sample(n, generator=torch.Generator().manual_seed(0))
    assert weights.keys() == target.param_shapes.keys()
    scales = torch.cat([weights[s.norm_scale].flatten() for s in target.layers if s.norm_scale])
    shifts = torch.cat([weights[s.norm_shift].flatten() for s in target.layers if s.norm_shift])
    # Initialised near the identity normalisation: scale near 1, shift near 0.
    assert (scales - 1).abs().mean() < 0.5 and shifts.abs().mean() < 0.5
    module.train()
    out = target(weights, torch.randn(n, 5, 1, 8, 8))
    assert out.shape == (n, 5, 10) and out.isfinite().all()


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bn_run")
    train(tiny_config(*RESNET, "train.steps=3"), path, argv=["x"], progress=False)
    return path


def test_bn_run_validates_evaluates_and_exports_with_statistics(bn_run, tmp_path):
    rows = [json.loads(line) for line in (bn_run / "metrics.jsonl").read_text().splitlines()]
    assert "val_mean_accuracy" in rows[-1]
    m = evaluate_run(bn_run, n_networks=3, progress=False)
    assert 0 <= m["mean_accuracy"] <= 1 and m["entropy_estimate"] is not None
    paths = export_networks(bn_run, 2, tmp_path / "nets", seed=1)
    session = load_run(bn_run)
    x = torch.rand(5, 1, 8, 8)
    outs = []
    for p in paths:
        state = load_file(str(p))
        assert "bn.running_mean" in state and not torch.equal(state["bn.running_var"], torch.ones(4))
        net = build_target("resnet_cifar", {"depth": 8, "widths": [4, 6, 8], "in_channels": 1}).eval()
        net.load_state_dict(state)  # strict: parameters, statistics and counters all present
        outs.append(net(x))
    assert not torch.allclose(outs[0], outs[1])
    # The exported network is the network TargetNet evaluates in eval mode.
    from hyperzoo.session import sample_networks
    weights = sample_networks(session, 2, 1)
    torch.testing.assert_close(session.target(weights, x)[0], outs[0], rtol=1e-4, atol=1e-5)

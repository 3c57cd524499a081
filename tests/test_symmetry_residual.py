"""The scale gauge on residual batch-norm networks: tied channels, unchanged function."""

import pytest
import torch
from torch import nn

from hyperzoo.methods import build_method
from hyperzoo.symmetry import (
    GaugeUnavailable,
    channel_spaces,
    gauge_fix,
    gauge_penalty,
    gauged_spaces,
    permutation_canonical,
    scale_gauge,
)
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import CIFARResNet


def resnet(eps: float | None = 1e-30) -> TargetNet:
    module = CIFARResNet(depth=8, widths=[4, 6, 8], in_channels=1).double()
    if eps is not None:
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = eps  # exact invariance: batch norm divides by sqrt(var + eps) (eps > 0 required)
    return TargetNet(module, (1, 8, 8))


def weights_of(target: TargetNet, n: int = 3, stats: bool = True) -> dict[str, torch.Tensor]:
    w = {k: torch.randn(n, *s, dtype=torch.float64) * 0.5 for k, s in target.param_shapes.items()}
    if stats:
        w.update({k: torch.rand(n, *s, dtype=torch.float64) + (0.5 if k.endswith("var") else -0.5)
                  for k, s in target.stat_shapes.items()})
    return w


def test_residual_channel_spaces_tie_the_summands():
    spaces = {tuple(sorted(p.name for p in sp.producers)): sp for sp in gauged_spaces(resnet())}
    # Stage 1's stream: the stem's batch norm and block 1's second, added by the identity shortcut.
    stream = spaces[("bn", "stages.0.bn2")]
    assert sorted(c.name for c in stream.consumers) == ["stages.0.conv1", "stages.1.conv1",
                                                        "stages.1.shortcut.0"]
    assert sorted(c.name for c in spaces[("stages.2.bn2", "stages.2.shortcut.1")].consumers) == ["fc"]
    # Every conv feeds only a batch norm: its own space, read by that norm alone.
    conv = spaces[("stages.1.conv2",)]
    assert conv.consumers == [] and conv.norms == ["stages.1.bn2"]
    assert conv.filter_size == 6 * 9
    assert len(spaces) == 9 + 3 + 3  # convs (7 + 2 projections), inner bn1 outputs, streams
    # The logits are not gauged (the output reads them).
    assert all(p.name != "fc" for sp in gauged_spaces(resnet()) for p in sp.producers)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("eps", [1e-30, 1e-5])
def test_gauge_keeps_the_function_of_a_residual_batch_norm_network(train, eps):
    target = resnet(eps)
    target.module.train(train)
    w = weights_of(target)
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    g = gauge_fix(target, w)
    tol = {} if eps < 1e-20 else {"rtol": 1e-3, "atol": 1e-3}  # eps is the one inexact part
    torch.testing.assert_close(target(g, x).softmax(-1), target(w, x).softmax(-1), **tol)
    assert not torch.allclose(g["stages.1.conv2.weight"], w["stages.1.conv2.weight"])
    for sp in gauged_spaces(target):  # every channel at its fixed norm
        sq = sum(g[t].reshape(3, sp.channels, -1).pow(2).sum(-1) for p in sp.producers for t in p.tensors)
        torch.testing.assert_close(sq, torch.full_like(sq, sp.filter_size))
    again = scale_gauge(target, g)
    for k in g:
        torch.testing.assert_close(again[k], g[k])
    torch.testing.assert_close(gauge_penalty(target, g), torch.zeros(3, dtype=torch.float64))


def test_gauge_identifies_rescaled_residual_networks():
    target = resnet()
    w = weights_of(target, n=1)
    c = torch.rand(4, dtype=torch.float64) * 3 + 0.1
    r = dict(w)
    # Rescale stage 1's stream channel-wise: both summands' scale and shift, every reader's input.
    for name in ("bn", "stages.0.bn2"):
        r[f"{name}.weight"] = w[f"{name}.weight"] * c
        r[f"{name}.bias"] = w[f"{name}.bias"] * c
    for name in ("stages.0.conv1", "stages.1.conv1", "stages.1.shortcut.0"):
        r[f"{name}.weight"] = w[f"{name}.weight"] / c.view(1, 1, 4, 1, 1)
    # And a conv feeding a batch norm: its scale is irrelevant (statistics follow it).
    d = torch.rand(6, dtype=torch.float64) + 0.5
    r["stages.1.conv2.weight"] = w["stages.1.conv2.weight"] * d.view(1, 6, 1, 1, 1)
    r["stages.1.bn2.running_mean"] = w["stages.1.bn2.running_mean"] * d
    r["stages.1.bn2.running_var"] = w["stages.1.bn2.running_var"] * d ** 2
    a, b = gauge_fix(target, w), gauge_fix(target, r)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            h = -h
        return self.b(h)


def test_untraceable_module_is_refused_with_the_fallback_named():
    target = TargetNet(Branchy(), (3,))
    with pytest.raises(GaugeUnavailable, match="method.diversity 'outputs'"):
        gauge_fix(target, weights_of(target, stats=False))


def test_output_space_diversity_needs_no_gauge():
    target = TargetNet(Branchy(), (3,))
    method = build_method(target, {"name": "deutsch", "z_dim": 4, "code_size": 2, "extractor_hidden": [8],
                                   "generator_hidden": [8], "diversity": "outputs", "probe_size": 4})
    out = method.training_loss(torch.randn(4, 6, 3), torch.randint(2, (4, 6)), 0)
    assert out["loss"].isfinite() and "entropy" in out


def test_permutation_canonical_refuses_residual_networks():
    target = resnet()
    with pytest.raises(GaugeUnavailable, match="chain targets"):
        permutation_canonical(target, weights_of(target))


def test_unknown_operations_leave_their_channels_ungauged():
    class Tanh(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(3, 4), nn.Linear(4, 5), nn.Linear(5, 2)

        def forward(self, x):
            return self.c(torch.relu(self.b(torch.tanh(self.a(x)))))

    target = TargetNet(Tanh(), (3,))
    assert [[p.name for p in sp.producers] for sp in gauged_spaces(target)] == [["b"]]
    assert len(channel_spaces(target)) > 1

"""Batch norm in the weight batch: per-network statistics, never pooled over networks."""

import copy

import pytest
import torch
from torch import nn

from hyperzoo.targets import TargetNet
from hyperzoo.targets.target_net import StatisticsMissing


class NormNet(nn.Module):
    """Written for these tests: parameter-free batch norms (1-D and 2-D) between filters."""

    input_shape = (2, 4, 4)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3, affine=False, momentum=None)
        self.fc = nn.Linear(3 * 16, 5)
        self.norm_fc = nn.BatchNorm1d(5, affine=False)
        self.out = nn.Linear(5, 4)

    def forward(self, x):
        h = torch.relu(self.norm(self.conv(x))).flatten(1)
        return self.out(torch.tanh(self.norm_fc(self.fc(h))))


def network_batch(target: TargetNet, n: int) -> dict[str, torch.Tensor]:
    weights = {k: torch.randn(n, *s, dtype=torch.float64) * 0.5 for k, s in target.param_shapes.items()}
    # Running statistics far from the module's own (0 and 1), different for every network.
    weights.update({k: torch.rand(n, *s, dtype=torch.float64) * 2 + (0.5 if k.endswith("var") else -1)
                    for k, s in target.stat_shapes.items()})
    return weights


def module_of(module: nn.Module, weights: dict[str, torch.Tensor], i: int) -> nn.Module:
    ref = copy.deepcopy(module)
    ref.load_state_dict({**ref.state_dict(), **{k: v[i] for k, v in weights.items()}})
    return ref


def test_statistics_are_named_and_optional():
    target = TargetNet(NormNet(), NormNet.input_shape)
    assert target.stat_shapes == {"norm.running_mean": (3,), "norm.running_var": (3,),
                                  "norm_fc.running_mean": (5,), "norm_fc.running_var": (5,)}
    assert target.has_statistics
    weights = network_batch(target, 2)
    assert target.check(weights) == 2
    assert target.check({k: weights[k] for k in target.param_shapes}) == 2
    with pytest.raises(ValueError, match="missing.*norm_fc.running_var"):
        target.check({k: v for k, v in weights.items() if k != "norm_fc.running_var"})


@pytest.mark.parametrize("backend", ["vmap", "loop"])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("shared", [True, False])
def test_batched_equals_separate_module_calls(backend, train, grad, shared):
    module = NormNet().double().train(train)
    target = TargetNet(module, module.input_shape, backend=backend)
    n, b = 3, 6
    weights = network_batch(target, n)
    before = {k: v.clone() for k, v in weights.items()}
    state = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.randn(n, b, *module.input_shape, dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        out = target(weights, x[0] if shared else x)
    for i in range(n):
        ref = module_of(module, weights, i)
        torch.testing.assert_close(out[i], ref(x[0] if shared else x[i]))
    # A pure function: neither the caller's statistics nor the module's buffers change.
    for k, v in weights.items():
        assert torch.equal(v, before[k])
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k])


def test_train_mode_statistics_are_per_network_not_pooled():
    # Two networks whose pre-norm activations differ by a factor 10: pooled statistics would
    # normalise the small one to nearly zero; per network both are normalised alike.
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False)).double().train()
    target = TargetNet(module, (3,))
    w = torch.randn(1, 4, 3, dtype=torch.float64)
    weights = {"0.weight": torch.cat([w, 10 * w]), "0.bias": torch.zeros(2, 4, dtype=torch.float64)}
    out = target(weights, torch.randn(16, 3, dtype=torch.float64))
    torch.testing.assert_close(out[0], out[1], rtol=1e-4, atol=1e-4)  # equal but for eps
    torch.testing.assert_close(out.var(1, unbiased=False), torch.ones(2, 4, dtype=torch.float64),
                               rtol=1e-3, atol=1e-3)


def test_eval_mode_needs_each_networks_statistics():
    module = NormNet().eval()
    target = TargetNet(module, module.input_shape)
    weights = {k: v.float() for k, v in network_batch(target, 2).items()}
    params = {k: weights[k] for k in target.param_shapes}
    with pytest.raises(StatisticsMissing, match="'norm' is in eval mode.*estimate_bn_statistics"):
        target(params, torch.randn(3, *module.input_shape))
    assert target(weights, torch.randn(3, *module.input_shape)).shape == (2, 3, 4)


def test_module_weights_carry_its_statistics():
    module = NormNet().double().train()
    module(torch.randn(8, *module.input_shape, dtype=torch.float64))  # move the running stats
    module.eval()
    target = TargetNet(module, module.input_shape)
    own = target.module_weights()
    assert own.keys() == {*target.param_shapes, *target.stat_shapes}
    x = torch.randn(5, *module.input_shape, dtype=torch.float64)
    torch.testing.assert_close(target(own, x)[0], module(x))

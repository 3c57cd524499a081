"""Batch norm in the weight batch: per-network statistics, never pooled over networks."""

import copy

import pytest
import torch
from torch import nn

from hyperzoo.errors import ConfigError
from hyperzoo.targets import TargetNet, estimate_bn_statistics
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


class AffineNet(nn.Module):
    """Written for these tests: every normalisation kind with a per-channel scale and shift."""

    input_shape = (3, 6, 6)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.gn = nn.GroupNorm(2, 6)
        self.fc = nn.Linear(6 * 2, 5)
        self.bn1 = nn.BatchNorm1d(5)
        self.fc2 = nn.Linear(5, 7)
        self.ln = nn.LayerNorm(7)
        self.out = nn.Linear(7, 3)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        h = torch.relu(self.gn(self.conv2(h))).mean(-1).flatten(1)
        h = torch.relu(self.bn1(self.fc(h)))
        return self.out(torch.relu(self.ln(self.fc2(h))))


def test_norm_scale_and_shift_join_the_filters_before_them():
    target = TargetNet(AffineNet(), AffineNet.input_shape)
    conv, conv2, fc, fc2, out = target.layers
    assert (conv.norm, conv.norm_scale, conv.norm_shift) == ("bn", "bn.weight", "bn.bias")
    assert conv.channel_params == ("bn.weight", "bn.bias")
    assert conv.filter_size == 3 * 9 + 2  # no conv bias; BN weight and bias
    assert conv2.filter_size == 4 * 9 + 1 + 2 and conv2.norm == "gn"
    assert fc.norm == "bn1" and fc2.norm == "ln" and out.norm is None
    assert sum(s.num_weights for s in target.layers) == target.num_weights
    flat = torch.arange(2 * conv.num_weights, dtype=torch.float64).reshape(2, -1)
    parts = conv.unflatten(flat)
    size = conv.filter_size
    # Filter i: its 27 weights, then scale - 1, then shift.
    assert torch.equal(parts["conv.weight"][1, 2].flatten(), flat[1, 2 * size:2 * size + 27])
    assert torch.equal(parts["bn.weight"][1], flat[1, 27::size] + 1)
    assert torch.equal(parts["bn.bias"][1], flat[1, 28::size])


def test_norm_that_follows_no_filter_is_refused():
    module = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2))
    with pytest.raises(ConfigError, match="'0' .*does not follow a conv or linear"):  # one line
        TargetNet(module, (3,))


@pytest.mark.parametrize("backend", ["vmap", "loop"])
@pytest.mark.parametrize("train", [True, False])
def test_affine_norms_batched_equal_separate_module_calls(backend, train):
    module = AffineNet().double().train(train)
    target = TargetNet(module, module.input_shape, backend=backend)
    weights = network_batch(target, 3)
    x = torch.randn(5, *module.input_shape, dtype=torch.float64)
    out = target(weights, x)
    for i in range(3):
        torch.testing.assert_close(out[i], module_of(module, weights, i)(x))


@pytest.mark.parametrize("backend", ["vmap", "loop"])
def test_estimated_statistics_are_each_networks_cumulative_average(backend):
    module = AffineNet().double().eval()
    target = TargetNet(module, module.input_shape, backend=backend)
    weights = {k: v for k, v in network_batch(target, 3).items() if k in target.param_shapes}
    data = torch.randn(12, *module.input_shape, dtype=torch.float64)
    done = []
    est = estimate_bn_statistics(target, weights, data, batch=4, progress=done.append, seed=None)
    assert done == [4, 8, 12]
    assert est.keys() == {*target.param_shapes, *target.stat_shapes}
    for i in range(3):
        ref = module_of(module, weights, i)
        for m in (ref.bn, ref.bn1):
            m.reset_running_stats()
            m.momentum = None  # the cumulative average of the batches' statistics
        ref.train()
        for x in data.split(4):
            ref(x)
        for k in target.stat_shapes:
            torch.testing.assert_close(est[k][i], ref.state_dict()[k])
    # The module itself is as it was: eval mode, momentum, statistics.
    assert not module.training and module.bn.momentum == 0.1
    assert torch.equal(module.bn.running_var, torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(target(est, data[:3])[1], module_of(module, est, 1).eval()(data[:3]))


def test_estimate_without_batch_norm_returns_the_parameters():
    target = TargetNet(nn.Sequential(nn.Linear(3, 2)), (3,))
    weights = {"0.weight": torch.randn(2, 2, 3), "0.bias": torch.zeros(2, 2)}
    assert estimate_bn_statistics(target, weights, torch.randn(4, 3)) == weights


def test_bn_statistics_weight_a_short_last_batch_by_its_size():
    module = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, affine=False)).double().eval()
    target = TargetNet(module, (2,))
    g = torch.Generator().manual_seed(0)
    w = {"0.weight": torch.randn(2, 3, 2, generator=g, dtype=torch.float64),
         "0.bias": torch.randn(2, 3, generator=g, dtype=torch.float64)}
    x = torch.randn(10, 2, generator=g, dtype=torch.float64)
    est = estimate_bn_statistics(target, w, x, batch=4, seed=None)  # batches of 4, 4, 2
    for i in range(2):
        h = x @ w["0.weight"][i].T + w["0.bias"][i]
        parts = h.split(4)
        mean = sum(len(p) * p.mean(0) for p in parts) / 10
        var = sum(len(p) * p.var(0) for p in parts) / 10  # unbiased per batch
        torch.testing.assert_close(est["1.running_mean"][i], mean)
        torch.testing.assert_close(est["1.running_var"][i], var)


def test_bn_statistics_of_data_sorted_by_class_are_those_of_the_whole_set():
    """Batches in data order were one class each on a file sorted by class: the mean of their
    variances left out the spread between classes (running variances 7-10x too small, a review
    found). In a fixed random order they estimate the variance of the whole set."""
    module = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, affine=False)).double().eval()
    target = TargetNet(module, (2,))
    g = torch.Generator().manual_seed(0)
    w = {"0.weight": torch.randn(2, 3, 2, generator=g, dtype=torch.float64),
         "0.bias": torch.randn(2, 3, generator=g, dtype=torch.float64)}
    x = torch.cat([torch.randn(500, 2, generator=g, dtype=torch.float64) - 3,
                   torch.randn(500, 2, generator=g, dtype=torch.float64) + 3])  # sorted: class 0, then 1
    shuffled = estimate_bn_statistics(target, w, x, batch=100)
    in_order = estimate_bn_statistics(target, w, x, batch=100, seed=None)
    for i in range(2):
        h = x @ w["0.weight"][i].T + w["0.bias"][i]  # the layer's outputs over the whole set
        torch.testing.assert_close(shuffled["1.running_mean"][i], h.mean(0))
        torch.testing.assert_close(in_order["1.running_mean"][i], h.mean(0))
        # A mean of 10 batch variances: within a few percent of the whole set's.
        torch.testing.assert_close(shuffled["1.running_var"][i], h.var(0), rtol=0.05, atol=0)
        assert (in_order["1.running_var"][i] < 0.5 * h.var(0)).any()  # what data order gave

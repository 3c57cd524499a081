import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hyperzoo.symmetry import (
    gauge_fix,
    gauge_penalty,
    logit_bias_gauge,
    permutation_canonical,
    scale_gauge,
)
from hyperzoo.targets import TargetNet, build_target


def setup(name="deutsch_mnist", n=3):
    module = build_target(name).double()
    target = TargetNet(module, module.input_shape)
    weights = {k: torch.randn(n, *s, dtype=torch.float64) * 0.3
               for k, s in target.param_shapes.items()}
    x = torch.rand(5, *module.input_shape, dtype=torch.float64)
    return target, weights, x


@pytest.mark.parametrize("name", ["deutsch_mnist", "lenet_cifar", "hypergan_mnist", "digits_net"])
def test_scale_gauge_keeps_outputs_and_fixes_norms(name):
    target, w, x = setup(name)
    g = scale_gauge(target, w)
    torch.testing.assert_close(target(g, x), target(w, x))
    for layer in target.layers[:-1]:
        sq = g[layer.weight].flatten(2).pow(2).sum(-1)
        if layer.bias:
            sq = sq + g[layer.bias] ** 2
        torch.testing.assert_close(sq, torch.full_like(sq, layer.filter_size))
    # The last layer carries the scale: it is not normalised.
    assert not torch.equal(g[target.layers[-1].weight], w[target.layers[-1].weight])


def test_logit_gauge_keeps_probabilities():
    target, w, x = setup()
    g = logit_bias_gauge(target, w)
    torch.testing.assert_close(g["9.bias"].sum(1), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(target(g, x).softmax(-1), target(w, x).softmax(-1))


@pytest.mark.parametrize("fn", [gauge_fix, permutation_canonical])
def test_gauges_are_idempotent(fn):
    target, w, _ = setup()
    once = fn(target, w)
    twice = fn(target, once)
    for k in once:
        torch.testing.assert_close(twice[k], once[k])


def test_gauge_identifies_rescaled_networks():
    target, w, _ = setup(n=1)
    layer, nxt = target.layers[1], target.layers[2]
    c = torch.rand(layer.out_units, dtype=torch.float64) * 3 + 0.1
    rescaled = dict(w)
    rescaled[layer.weight] = w[layer.weight] * c.view(1, -1, 1, 1, 1)
    rescaled[layer.bias] = w[layer.bias] * c
    rescaled[nxt.weight] = w[nxt.weight] / c.repeat_interleave(49).view(1, 1, -1)
    shifted = logit_bias_gauge(target, rescaled)
    shifted["9.bias"] = shifted["9.bias"] + 7.0
    a, b = gauge_fix(target, w), gauge_fix(target, shifted)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_permutation_canonical_keeps_outputs_and_identifies_permuted_networks():
    target, w, x = setup(n=2)
    p = permutation_canonical(target, w)
    torch.testing.assert_close(target(p, x), target(w, x))
    layer, nxt = target.layers[1], target.layers[2]
    perm = torch.randperm(layer.out_units)
    permuted = dict(w)
    permuted[layer.weight] = w[layer.weight][:, perm]
    permuted[layer.bias] = w[layer.bias][:, perm]
    permuted[nxt.weight] = w[nxt.weight].view(2, 8, 16, 49)[:, :, perm].reshape(2, 8, 784)
    torch.testing.assert_close(target(permuted, x), target(w, x))
    q = permutation_canonical(target, permuted)
    for k in p:
        torch.testing.assert_close(q[k], p[k])


def test_gauge_penalty_is_zero_exactly_on_the_gauge():
    target, w, _ = setup()
    assert (gauge_penalty(target, w) > 1).all()
    torch.testing.assert_close(gauge_penalty(target, gauge_fix(target, w)),
                               torch.zeros(3, dtype=torch.float64))


def test_bias_key_needs_biases():
    target, w, _ = setup("hypergan_mnist")
    with pytest.raises(ValueError, match="sort key 'bias' needs biases"):
        permutation_canonical(target, w, key="bias")


def test_gauge_check_accepts_the_papers_targets_and_a_tanh_target_whose_tanh_channels_stay_fixed():
    """The graph-based gauge leaves channels read by tanh alone, so it is exact there too; the
    check passes for every setting that uses it (MC dropout's masks are no gauge: see
    tests/methods/test_mc_dropout.py)."""
    from hyperzoo.methods import build_method
    from hyperzoo.symmetry import check_gauge
    from hyperzoo.targets.zoo import DigitsNet
    from tests.helpers import TanhNet

    for name, shape in (("digits_net", (1, 8, 8)), ("deutsch_mnist", (1, 28, 28)),
                        ("hypergan_mnist", (1, 28, 28))):
        check_gauge(TargetNet(build_target(name), shape), "test")
    tanh = TargetNet(TanhNet(), (1, 8, 8))
    for settings in ({"name": "deutsch", "diversity": "weights"},
                     {"name": "deutsch", "diversity": "weights_relaxed"},
                     {"name": "deutsch", "diversity": "outputs"}):
        build_method(tanh, settings)
    build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "mc_dropout"})


def test_gauge_check_catches_a_gauge_that_changes_the_function(monkeypatch):
    """Should the gauge ever be wrong for a target, building the method fails with one line."""
    import hyperzoo.symmetry as sym
    from hyperzoo.errors import ConfigError
    from hyperzoo.methods import build_method

    def wrong(target, weights):
        return {k: 2 * v for k, v in weights.items()}

    monkeypatch.setattr(sym, "scale_gauge", wrong)
    target = TargetNet(build_target("digits_net"), (1, 8, 8))
    with pytest.raises(ConfigError, match="changes its outputs.*method.diversity: outputs"):
        build_method(target, {"name": "deutsch", "diversity": "weights"})


class CastingNet(nn.Module):
    """A forward that casts its input to float32 (``x.float()``): the float64 copy of the gauge
    check failed inside it ("mat1 and mat2 must have the same dtype"), a traceback at fit."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x.float())


def test_the_gauge_check_runs_in_float32_for_a_forward_that_casts_its_input(monkeypatch):
    import hyperzoo.symmetry as sym
    from hyperzoo.errors import ConfigError
    from hyperzoo.methods import build_method

    target = TargetNet(CastingNet(), (1, 8, 8))
    build_method(target, {"name": "deutsch", "diversity": "weights"})
    monkeypatch.setattr(sym, "scale_gauge", lambda target, weights: {k: 2 * v for k, v in weights.items()})
    with pytest.raises(ConfigError, match="changes its outputs"):  # and still catches a wrong gauge
        build_method(target, {"name": "deutsch", "diversity": "weights"})


def test_gauge_of_a_block_that_reads_the_stream_it_adds_to_keeps_the_function():
    """A residual block's layer reads the stream it adds to (its channel space reads itself):
    no order fixes every norm exactly, but the gauge must still be a symmetry."""
    from hyperzoo.symmetry import check_gauge

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = (torch.nn.Linear(8, 8), torch.nn.Linear(8, 8),
                                      torch.nn.Linear(8, 3))

        def forward(self, x):
            h = torch.relu(self.a(x))
            return self.c(h + torch.relu(self.b(h)))

    target = TargetNet(Residual().double(), (8,))
    check_gauge(target, "method.diversity: weights")
    w = {k: v.repeat(3, *[1] * (v.dim() - 1)) + 0.3 * torch.randn(3, *v.shape[1:], dtype=torch.float64)
         for k, v in target.module_weights().items()}
    x = torch.randn(5, 8, dtype=torch.float64)
    # The logit-bias gauge shifts logits by a constant per network: compare probabilities.
    torch.testing.assert_close(target(gauge_fix(target, w), x).softmax(-1), target(w, x).softmax(-1))


def test_a_dead_filter_leaves_the_gauges_gradients_finite():
    """One all-zero filter (a dead ReLU in a generator) is left alone by the gauge; its unused
    square root of 0 made every gradient NaN (0 · ∞ in the backward pass)."""
    target = TargetNet(build_target("digits_net"), (1, 8, 8))
    torch.manual_seed(0)
    weights = {k: torch.randn(3, *s, requires_grad=True) for k, s in target.param_shapes.items()}
    first = target.layers[0]
    dead = {k: v.clone() for k, v in weights.items()}
    for name in (first.weight, first.bias):  # filter 0 of every network: all zero, by a product
        if name:                              # (as a generator's dead ReLU makes it)
            dead[name] = dead[name] * torch.ones_like(dead[name]).index_fill(1, torch.tensor([0]), 0.0)
    out = gauge_fix(target, dead)
    sum(v.pow(2).sum() for v in out.values()).backward()
    assert all(bool(torch.isfinite(w.grad).all()) for w in weights.values())
    assert torch.equal(out[first.weight][:, 0], torch.zeros_like(out[first.weight][:, 0]))


def test_lam_start_and_gamma_are_checked():
    from hyperzoo.errors import ConfigError
    from hyperzoo.methods import build_method

    target = TargetNet(build_target("digits_net"), (1, 8, 8))
    for key, value in (("lam_start", -10.0), ("lam_start", 0.0), ("gamma", -1.0)):
        with pytest.raises(ConfigError, match=f"method.{key} must be"):
            build_method(target, {"name": "deutsch", key: value, "lam_warmup_steps": 5})
    # No steps to ramp over: lam_start was ignored, λ from the first step. Refused for training;
    # a run trained so before the check reopens.
    for settings in ({"lam_start": 10.0}, {"lam_warmup_steps": -5}):
        method = build_method(target, {"name": "deutsch", **settings})
        with pytest.raises(ConfigError, match="method.lam_warmup_steps must be at least 1 with"):
            method.check_training(32)


class Flattened(torch.nn.Module):
    """Two convolutions, then the batch flattened one of four ways."""

    def __init__(self, how: str):
        super().__init__()
        nn = torch.nn
        self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 6, 3)
        self.fc, self.out = nn.Linear(96, 5), nn.Linear(5, 3)
        self.how = how

    def forward(self, x):
        h = torch.relu(self.c2(torch.relu(self.c1(x))))
        h = {"view": lambda: h.view(h.size(0), -1), "reshape": lambda: h.reshape(h.shape[0], -1),
             "flatten": lambda: torch.flatten(h, 1), "other": lambda: h.view(-1, 96)}[self.how]()
        return self.out(torch.relu(self.fc(h)))


@pytest.mark.parametrize("how", ["view", "reshape", "flatten"])
def test_the_view_idiom_is_a_flatten_to_the_gauge(how):
    """`x.view(x.size(0), -1)` left the last convolution ungauged (its size() read and the view
    fixed it): a rescaled network then had another gauge-fixed vector (seed 000 §2's symmetry)."""
    from hyperzoo.symmetry import check_gauge, gauged_spaces

    target = TargetNet(Flattened(how).double(), (1, 8, 8))
    assert sorted(p.name for sp in gauged_spaces(target) for p in sp.producers) == ["c1", "c2", "fc"]
    check_gauge(target, "test")
    w = target.module_weights()  # one network: (1, *shape)
    scaled = {**w, "c2.weight": w["c2.weight"] * 3, "c2.bias": w["c2.bias"] * 3,
              "fc.weight": w["fc.weight"] / 3}
    a, b = gauge_fix(target, w), gauge_fix(target, scaled)
    assert all(torch.allclose(a[k], b[k]) for k in a)
    # A view that does not read the batch size from x is not assumed to keep examples apart.
    assert "c2" not in {p.name for sp in gauged_spaces(TargetNet(Flattened("other"), (1, 8, 8)))
                        for p in sp.producers}


class BiasThenNorm(torch.nn.Module):
    """A bias read by a batch norm alone (free), one with a ReLU before its norm, one shared by
    a norm and an addition (both kept)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.a, self.na = nn.Linear(64, 8), nn.BatchNorm1d(8)
        self.b, self.nb = nn.Linear(8, 8), nn.BatchNorm1d(8)
        self.c, self.nc = nn.Linear(8, 8), nn.BatchNorm1d(8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.na(self.a(x.flatten(1))))
        h = self.nb(torch.relu(self.b(h)))
        c = self.c(h)
        return self.out(torch.relu(self.nc(c) + c))


def test_a_bias_read_by_batch_norm_alone_is_gauged_away():
    """Batch norm subtracts each channel's mean: the bias right before it changes nothing (in
    eval mode the running mean absorbs it), so the gauge sets it to 0. Where a ReLU or another
    reader sits between, the bias matters and is kept."""
    from hyperzoo.symmetry import check_gauge

    target = TargetNet(BiasThenNorm().double().eval(), (1, 8, 8))
    check_gauge(target, "test")
    w = target.module_weights()
    w = {**w, "na.running_mean": torch.randn_like(w["na.running_mean"]),
         "nb.running_mean": torch.randn_like(w["nb.running_mean"])}
    shifted = {**w, "a.bias": w["a.bias"] + 5.0, "na.running_mean": w["na.running_mean"] + 5.0}
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(target(w, x), target(shifted, x))  # the same network
    a, b = gauge_fix(target, w), gauge_fix(target, shifted)
    assert all(torch.allclose(a[k], b[k]) for k in a)
    assert torch.equal(a["a.bias"], torch.zeros_like(a["a.bias"]))
    assert not torch.equal(a["b.bias"], torch.zeros_like(a["b.bias"]))  # a ReLU before its norm
    assert not torch.equal(a["c.bias"], torch.zeros_like(a["c.bias"]))  # also added to the stream
    # The relaxed gauge's penalty is zero on the exact gauge and sees the free bias: it did not.
    torch.testing.assert_close(gauge_penalty(target, a), torch.zeros(1, dtype=torch.float64))
    off = gauge_penalty(target, {**a, "a.bias": a["a.bias"] + 0.5})
    # 8 channels: the bias's squared norm 8 · 0.5², and each channel's squared norm now 0.5²
    # above its target, 8 · (0.5²)².
    torch.testing.assert_close(off, torch.full((1,), 8 * 0.25 + 8 * 0.25**2, dtype=torch.float64))


class HandPooled(torch.nn.Module):
    """Global pooling written by hand, as a mean and a max over the spatial dimensions."""

    def __init__(self, how: str):
        super().__init__()
        nn = torch.nn
        self.how, self.a, self.b, self.fc = how, nn.Conv2d(1, 4, 3), nn.Conv2d(4, 5, 3), nn.Linear(5, 3)

    def forward(self, x):
        h = torch.relu(self.b(torch.relu(self.a(x))))
        return self.fc(h.mean((2, 3)) if self.how == "mean" else torch.amax(h, dim=(2, 3)))


@pytest.mark.parametrize("how", ["mean", "amax"])
def test_global_pooling_by_hand_is_channel_wise(how):
    """x.mean((2, 3)) left the second convolution's channels fixed (no gauge there, the entropy
    saw its rescalings) and MC dropout refused the model."""
    from hyperzoo.methods import build_method
    from hyperzoo.symmetry import channel_spaces

    target = TargetNet(HandPooled(how).double(), (1, 8, 8))
    assert sum(sp.gauged for sp in channel_spaces(target)) == 2
    w = {k: torch.randn(3, *s, dtype=torch.float64) for k, s in target.param_shapes.items()}
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(target(gauge_fix(target, w), x).log_softmax(-1), target(w, x).log_softmax(-1))
    build_method(TargetNet(HandPooled(how), (1, 8, 8)), {"name": "mc_dropout"})


class LastAxisMean(torch.nn.Module):
    """A Linear on (N, L, D) has its channels last: a mean over dim 2 averages the channels."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(6, 4), torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)).mean(2))


def test_a_mean_over_a_linear_layers_channels_is_not_channel_wise():
    """Taken as global pooling, the gauge changed the function (log-softmax by 3.5)."""
    target = TargetNet(LastAxisMean().double(), (4, 6))
    w = {k: torch.randn(3, *s, dtype=torch.float64) for k, s in target.param_shapes.items()}
    x = torch.randn(5, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(target(gauge_fix(target, w), x).log_softmax(-1), target(w, x).log_softmax(-1))


class _TokenLinear(torch.nn.Module):
    """A Linear on (B, 3, 4): its 5 channels are the last dimension, then a flatten (position-major)."""

    def __init__(self, norm: bool = False):
        super().__init__()
        self.a, self.b = torch.nn.Linear(4, 5), torch.nn.Linear(15, 2)
        self.ln = torch.nn.LayerNorm(5) if norm else torch.nn.Identity()

    def forward(self, x):
        return self.b(torch.flatten(torch.relu(self.ln(self.a(x))), 1))


class _LinearOnWidth(torch.nn.Module):
    """A Linear reading a conv map's last dimension (its width), after batch norm."""

    def __init__(self):
        super().__init__()
        self.c, self.bn = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4)
        self.fc, self.out = torch.nn.Linear(8, 2), torch.nn.Linear(64, 3)

    def forward(self, x):
        return self.out(torch.flatten(self.fc(torch.relu(self.bn(self.c(x)))), 1))


class _BatchNormOverPositions(torch.nn.Module):
    """BatchNorm1d(5) on a Linear's (B, 5, 5) output: it normalises the positions (dimension 1),
    not the Linear's channels, so it cannot absorb the Linear's bias."""

    def __init__(self):
        super().__init__()
        self.a, self.bn, self.b = torch.nn.Linear(5, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(25, 2)

    def forward(self, x):
        return self.b(torch.flatten(torch.relu(self.bn(self.a(x))), 1))


@pytest.mark.parametrize("module, shape", [
    (_TokenLinear(), (3, 4)), (_TokenLinear(norm=True), (3, 4)), (_LinearOnWidth(), (1, 8, 8)),
    (_BatchNormOverPositions(), (5, 5))])
@pytest.mark.parametrize("training", [False, True])
def test_channels_not_at_dimension_1_are_left_ungauged_and_the_function_holds(module, shape, training):
    """Each of these changed its outputs by 2-20 (|y| ~ 3-30) under the gauge, which assumed a
    space's channels at dimension 1 (or first in a flatten); `check_gauge` passed them."""
    from hyperzoo.symmetry import check_gauge

    module = module.double().train(training)
    for m in module.modules():  # the gauge holds up to batch norm's ε (the module docstring)
        if isinstance(m, torch.nn.modules.batchnorm._NormBase):
            m.eps = 1e-30
    target = TargetNet(module, shape)
    g = torch.Generator().manual_seed(0)
    w = {k: torch.randn(3, *s, generator=g, dtype=torch.float64) for k, s in target.param_shapes.items()}
    w.update({k: torch.rand(3, *s, generator=g, dtype=torch.float64) + 0.5
              for k, s in target.stat_shapes.items()})
    x = torch.randn(6, *shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(target(scale_gauge(target, w), x), target(w, x), rtol=1e-9, atol=1e-9)
    check_gauge(target, "the test")


class _TwoBranches(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 3, 3), torch.nn.Conv2d(3, 3, 3)
        self.c = torch.nn.Conv2d(6, 2, 1)

    def forward(self, x):
        return self.c(torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], 1)).flatten(1)


class _WidthBehindTanh(torch.nn.Module):
    """A Linear reading a conv map's width, behind a tanh no gauge follows (outputs moved by 0.5)."""

    def __init__(self):
        super().__init__()
        self.c, self.fc = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Linear(4, 5)
        self.out = torch.nn.Linear(80, 2)

    def forward(self, x):
        return self.out(torch.flatten(torch.tanh(self.fc(torch.tanh(self.c(x)))), 1))


@pytest.mark.parametrize("module, shape", [(_TwoBranches(), (3, 5, 5)), (_TokenLinear(), (3, 4)),
                                           (_WidthBehindTanh(), (1, 4, 4))])
def test_the_permutation_form_refuses_targets_that_are_not_chains(module, shape):
    """Two branches joined by torch.cat (outputs changed by 81) and channels not at dimension 1
    (by 30) were permuted as if each layer fed the next alone."""
    from hyperzoo.symmetry import GaugeUnavailable

    target = TargetNet(module.double(), shape)
    w = {k: torch.randn(2, *s, dtype=torch.float64) for k, s in target.param_shapes.items()}
    with pytest.raises(GaugeUnavailable, match="chain targets"):
        permutation_canonical(target, w)


class _TokenMLP(torch.nn.Module):
    """Linear -> ReLU -> Linear on (B, L, D), then a mean over L: channels last throughout."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = torch.nn.Linear(4, 5), torch.nn.Linear(5, 6), torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.head(torch.relu(self.b(torch.relu(self.a(x)))).mean(1))


def test_a_token_wise_mlp_keeps_its_gauge_channels_last():
    """Channels last for every producer and consumer is a symmetry too: it was left ungauged."""
    from hyperzoo.symmetry import gauged_spaces

    target = TargetNet(_TokenMLP().double(), (3, 4))
    # b's outputs reach a mean over positions, which the plan only follows for channels first
    assert sorted(p.name for sp in gauged_spaces(target) for p in sp.producers) == ["a"]
    g = torch.Generator().manual_seed(0)
    w = {k: torch.randn(3, *s, generator=g, dtype=torch.float64) for k, s in target.param_shapes.items()}
    x = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(target(scale_gauge(target, w), x), target(w, x), rtol=1e-9, atol=1e-9)


def test_the_shape_pass_leaves_the_random_state_and_a_batch_norm_without_statistics_checks():
    """A dropout traced in training mode drew from the global generator when the plan was first
    made (a resumed run then drew otherwise); check_gauge's eps 0 crashed batch norm without
    running statistics."""
    from hyperzoo.symmetry import channel_spaces, check_gauge

    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                                 torch.nn.BatchNorm1d(8, track_running_stats=False), torch.nn.Linear(8, 2))
    target = TargetNet(module.train(), (4,))
    before = torch.get_rng_state()
    channel_spaces(target)
    assert torch.equal(torch.get_rng_state(), before) and module.training
    check_gauge(target, "the test")


def test_the_plan_made_inside_a_training_step_leaves_its_graph_intact():
    """Restoring the module's buffers in place after the shape pass bumped their versions: the
    step whose loss made the plan (the first gauge_fix) then failed in its backward."""
    from hyperzoo.symmetry import gauge_fix

    class Scaled(torch.nn.Sequential):
        def __init__(self):
            super().__init__(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
            self.register_buffer("scale", torch.tensor(2.0))

        def forward(self, x):
            return super().forward(x) * self.scale

    target = TargetNet(Scaled(), (4,), backend="loop")
    w = {k: torch.randn(3, *s, requires_grad=True) for k, s in target.param_shapes.items()}
    out = target(w, torch.randn(2, 4)).sum()  # the buffer is in this graph
    gauged = gauge_fix(target, w)  # the plan is made here, as in a first training step
    (out + sum(v.sum() for v in gauged.values())).backward()


def test_every_homogeneous_module_has_its_functional_twin_in_the_gauge():
    """F.adaptive_max_pool1d and F.dropout2d in a user's forward left their channels ungauged
    where the modules did not (the two tables disagreed)."""
    from hyperzoo.symmetry import _HOMOGENEOUS_FUNCTIONS, _HOMOGENEOUS_MODULES

    def twin(module: type) -> object:  # nn.AdaptiveMaxPool1d -> F.adaptive_max_pool1d
        name = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[a-z])(?=\d)", "_", module.__name__).lower()
        return getattr(F, {"re_lu": "relu", "leaky_re_lu": "leaky_relu"}.get(name, name.replace("_1d", "1d")
                           .replace("_2d", "2d").replace("_3d", "3d")), None)

    assert twin(nn.AdaptiveMaxPool1d) is F.adaptive_max_pool1d and twin(nn.ReLU) is F.relu
    missing = [m.__name__ for m in _HOMOGENEOUS_MODULES
               if m not in (nn.Identity, nn.Flatten) and twin(m) not in _HOMOGENEOUS_FUNCTIONS]
    assert not missing, missing


def test_a_functional_channel_dropout_keeps_its_gauge():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 3, 3), nn.Linear(3, 2)

        def forward(self, x):
            h = F.dropout2d(torch.relu(self.a(x)), 0.5, self.training)
            return self.b(F.adaptive_max_pool2d(h, 1).flatten(1))

    target = TargetNet(Net().eval().double(), (1, 5, 5))
    from hyperzoo.symmetry import check_gauge, gauged_spaces

    assert [[p.name for p in sp.producers] for sp in gauged_spaces(target)] == [["a"]]
    check_gauge(target, "test")

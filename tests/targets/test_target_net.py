import pytest
import torch
from torch import nn

from hyperzoo.errors import ConfigError
from hyperzoo.targets import BUILTIN, TargetNet, build_target
from hyperzoo.targets.zoo import DeutschMNIST, DigitsNet, HyperGANCIFAR, HyperGANMNIST, LeNetCIFAR
from tests.helpers import record_output_dtypes


def random_batch(target: TargetNet, n: int, dtype=torch.float64) -> dict[str, torch.Tensor]:
    weights = {k: torch.randn(n, *s, dtype=dtype) * 0.2 for k, s in target.param_shapes.items()}
    # Batch-norm targets: each network's own running statistics (variances positive).
    weights.update({k: torch.rand(n, *s, dtype=dtype) + 0.5 for k, s in target.stat_shapes.items()})
    return weights


def layer_weights(module: nn.Module) -> list[int]:
    t = TargetNet(module, module.input_shape)
    return [layer.num_weights for layer in t.layers]


def test_paper_weight_counts():
    assert layer_weights(DeutschMNIST()) == [832, 12816, 6280, 90]
    assert sum(layer_weights(DeutschMNIST())) == 20018
    assert layer_weights(LeNetCIFAR()) == [456, 2416, 48120, 10164, 850]
    assert layer_weights(HyperGANMNIST()) == [32 * 25, 32 * 32 * 25, 512 * 10]
    assert layer_weights(HyperGANCIFAR()) == [16 * 27, 32 * 16 * 9, 64 * 32 * 9, 256 * 128, 1280]


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("backend", ["vmap", "loop", "threads"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("grad", [True, False])  # the loop runs inference in channels-last layout
def test_batched_equals_separate_module_calls(name, backend, shared, grad):
    if backend == "threads":
        torch.set_num_threads(2)  # with one, threads fall back to the loop (conftest restores it)
    module = build_target(name).double().eval()  # eval: dropout would differ between calls
    target = TargetNet(module, module.input_shape, backend=backend)
    n, b = 3, 4
    weights = random_batch(target, n)
    x = torch.randn(b, *module.input_shape, dtype=torch.float64)
    xs = x if shared else torch.randn(n, b, *module.input_shape, dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        out = target(weights, xs)
    outputs = {"point": 2, "regression_mlp": 1}.get(name, 10)
    assert out.shape == (n, b, outputs)
    for i in range(n):
        ref = build_target(name).double().eval()
        ref.load_state_dict({k: v[i] for k, v in weights.items()})
        torch.testing.assert_close(out[i], ref(x if shared else xs[i]))


def test_layers_in_forward_order_not_registration_order():
    class Reversed(nn.Module):
        def __init__(self):
            super().__init__()
            self.second = nn.Linear(4, 3)
            self.first = nn.Linear(2, 4)

        def forward(self, x):
            return self.second(torch.relu(self.first(x)))

    target = TargetNet(Reversed(), (2,))
    assert [layer.name for layer in target.layers] == ["first", "second"]
    assert target.layers[0].filter_size == 3


def test_unsupported_layer_is_named():
    module = nn.Sequential(nn.Linear(3, 4), nn.Embedding(4, 4), nn.Linear(4, 2))
    with pytest.raises(ConfigError, match=r"layer '1' \(Embedding\) has parameters hyperzoo cannot generate "
                                          r"\('1.weight'\)"):
        TargetNet(module, (3,))

    class Scaled(nn.Module):  # a parameter of the model itself: the message said '<root>' alone
        def __init__(self):
            super().__init__()
            self.fc, self.scale = nn.Linear(3, 2), nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.fc(x) * self.scale

    with pytest.raises(ConfigError, match=r"layer '<root>' \(Scaled\) has parameters .* \('scale'\)"):
        TargetNet(Scaled(), (3,))


def test_a_layer_used_through_its_weights_alone_says_to_call_it():
    """F.linear(x, self.fc.weight) read the module's fixed weights, never the generated ones."""
    from torch.nn import functional as F

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(F.linear(x, self.fc.weight, self.fc.bias).relu())

    with pytest.raises(ConfigError, match=r"layers \['fc'\] are never called in forward.*not "
                                          r"F.linear\(x, self.fc.weight\)"):
        TargetNet(Functional(), (3,))


def test_a_norm_on_the_models_input_says_how_to_keep_it():
    with pytest.raises(ConfigError, match="on the model's input, give it affine=False"):
        TargetNet(nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2)), (3,))
    target = TargetNet(nn.Sequential(nn.BatchNorm1d(3, affine=False), nn.Linear(3, 2)), (3,))
    assert target.stat_shapes == {"0.running_mean": (3,), "0.running_var": (3,)}


def test_module_is_not_modified():
    module = DigitsNet()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    module.train()
    target = TargetNet(module, module.input_shape)
    target(random_batch(target, 2, torch.float32), torch.randn(5, 1, 8, 8))
    assert module.training
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k])


def test_bad_weight_shapes_and_inputs():
    module = DigitsNet()
    target = TargetNet(module, module.input_shape)
    w = random_batch(target, 2, torch.float32)
    with pytest.raises(ValueError, match="expected"):
        target(w, torch.randn(5, 1, 9, 9))
    w["0.weight"] = w["0.weight"][:, :3]
    with pytest.raises(ValueError, match=r"weights\['0.weight'\]"):
        target(w, torch.randn(5, 1, 8, 8))


def test_unknown_target_name():
    with pytest.raises(ConfigError, match="unknown target 'resnet9000'"):
        build_target("resnet9000")
    assert isinstance(build_target("torch.nn:Linear", {"in_features": 2, "out_features": 3}),
                      nn.Linear)


def test_unflatten_is_filter_major():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    layer = target.layers[-1]  # Linear(32, 10): filters of 32 weights + 1 bias
    flat = torch.arange(2 * layer.num_weights, dtype=torch.float64).reshape(2, -1)
    w = layer.unflatten(flat)
    assert torch.equal(w[layer.weight][1, 3], flat[1, 3 * 33:3 * 33 + 32])
    assert torch.equal(w[layer.bias][1, 3], flat[1, 3 * 33 + 32])


def test_layer_labels_name_positions_by_kind_and_keep_own_names():
    from torch import nn

    from hyperzoo.targets.target_net import layer_labels

    t = TargetNet(build_target("digits_net"), (1, 8, 8))
    assert [s.name for s in t.layers] == ["0", "3", "7", "9"]  # a Sequential's positions
    assert layer_labels(t.layers) == ["conv1", "conv2", "fc1", "fc2"]

    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc2 = nn.Linear(4, 3)  # its own name, which body.0's made-up label would repeat
            self.body = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))

        def forward(self, x):
            return self.body(self.fc2(x))

    assert layer_labels(TargetNet(Named(), (4,)).layers) == ["fc2", "body.0", "fc3"]


@pytest.mark.parametrize(("cls", "default", "mean", "std"), [
    (LeNetCIFAR, True, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    (HyperGANCIFAR, False, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    (HyperGANMNIST, False, (0.1307,), (0.3081,)),  # seed 002's reference loaders (MNIST, notMNIST)
])
def test_image_targets_standardize_their_input_with_fixed_constants(cls, default, mean, std):
    """standardize=True is the raw network on (x − mean) / std per channel; it adds no
    parameter, so exported networks load into either. HyperGAN's targets keep raw pixels by
    default (runs saved before the option have configs that do not name it)."""
    torch.manual_seed(0)
    std_net, raw_net = cls(standardize=True).double(), cls(standardize=False).double()
    raw_net.load_state_dict(std_net.state_dict())
    x = torch.rand(5, *cls.input_shape, dtype=torch.float64)
    by_hand = torch.stack([(x[:, c] - m) / s for c, (m, s) in enumerate(zip(mean, std, strict=True))], 1)
    torch.testing.assert_close(std_net(x), raw_net(by_hand))
    assert sum(p.numel() for p in std_net.parameters()) == sum(layer_weights(cls()))
    # The constants are buffers that move with the module but stay out of its state dict.
    assert std_net.state_dict().keys() == dict(std_net.named_parameters()).keys()
    assert std_net.channel_mean.dtype == torch.float64
    assert cls().standardize is default


def test_channels_last_slices_have_explicit_nhwc_strides_even_with_one_channel():
    from hyperzoo.targets.target_net import to_channels_last

    t = torch.randn(2, 3, 1, 5, 4, requires_grad=True)
    cl = to_channels_last(t)
    assert torch.equal(cl, t) and cl[1].stride() == (20, 1, 4, 1)  # oneDNN's NHWC path, not NCHW's
    cl.sum().backward()
    assert torch.equal(t.grad, torch.ones_like(t))


@pytest.mark.parametrize("name", [n for n in sorted(BUILTIN) if len(build_target(n).input_shape) == 3])
def test_channels_last_training_gradients_equal_nchws(name):
    module = build_target(name).double().eval()
    target = TargetNet(module, module.input_shape, backend="loop")
    assert target.channels_last and target._train_channels_last  # so the two layouts differ
    weights = random_batch(target, 2)
    x = torch.randn(2, 3, *module.input_shape, dtype=torch.float64)

    def grads(channels_last: bool) -> dict[str, torch.Tensor]:
        target.channels_last = channels_last
        leaves = {k: v.clone().requires_grad_(k in target.param_shapes) for k, v in weights.items()}
        target(leaves, x).square().sum().backward()
        return {k: v.grad for k, v in leaves.items() if v.grad is not None}

    nhwc, nchw = grads(True), grads(False)
    assert nhwc.keys() == nchw.keys() and nhwc
    for k in nchw:
        torch.testing.assert_close(nhwc[k], nchw[k], msg=k)


def test_training_stays_nchw_where_pytorchs_nhwc_backward_corrupts_memory():
    # torch 2.13's NHWC backward of a 1x1 stride-2 convolution with few input channels aborts
    # the process (heap corruption): such targets train in NCHW, and still evaluate in NHWC.
    risky = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 1, stride=2), nn.Flatten(),
                          nn.Linear(6 * 4 * 4, 10))
    seen: list[bool] = []
    nhwc = torch.channels_last
    risky[1].register_forward_hook(lambda m, i, o: seen.append(i[0].is_contiguous(memory_format=nhwc)))
    target = TargetNet(risky, (1, 8, 8), backend="loop")
    weights = {k: (torch.randn(2, *s) * 0.2).requires_grad_() for k, s in target.param_shapes.items()}
    seen.clear()
    target(weights, torch.randn(2, 3, 1, 8, 8)).sum().backward()
    with torch.no_grad():
        target(weights, torch.randn(3, 1, 8, 8))
    assert seen == [False, False, True, True]
    assert TargetNet(DeutschMNIST(), (1, 28, 28))._train_channels_last


class ViewNet(nn.Module):
    """A user's net that flattens with ``view``, which NCHW strides allow and NHWC's refuse."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(h.view(h.size(0), -1))


@pytest.mark.parametrize("grad", [True, False])
def test_a_module_that_cannot_run_in_channels_last_runs_in_nchw(grad):
    target = TargetNet(ViewNet(), (1, 8, 8))
    assert not target.channels_last and TargetNet(DeutschMNIST(), (1, 28, 28)).channels_last
    weights = {k: torch.randn(2, *s) * 0.3 for k, s in target.param_shapes.items()}
    x = torch.randn(3, 1, 8, 8)
    with torch.set_grad_enabled(grad):
        out = target(weights, x)
    for i in range(2):
        ref = ViewNet()
        ref.load_state_dict({k: v[i] for k, v in weights.items()})
        torch.testing.assert_close(out[i], ref(x))


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("backend", ["vmap", "loop", "threads"])
def test_lower_precision_runs_the_networks_in_bf16_and_returns_the_weights_dtype(name, backend):
    if backend == "threads":
        torch.set_num_threads(2)  # autocast is per thread: the workers must see it too
    module = build_target(name).train()
    target = TargetNet(module, module.input_shape, backend=backend)
    torch.manual_seed(0)
    weights = {k: v.requires_grad_(k in target.param_shapes) for k, v in
               random_batch(target, 3, dtype=torch.float32).items()}
    x = torch.randn(3, 4, *module.input_shape)

    def run() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.random.fork_rng():  # dropout: the same masks in both precisions
            out = target(weights, x)
        grads = torch.autograd.grad(out.square().sum(), [weights[k] for k in target.param_shapes])
        return out, dict(zip(target.param_shapes, grads, strict=True))

    full, full_grads = run()
    with target.lower_precision(torch.bfloat16):
        low, low_grads = run()
    full, low = full.detach(), low.detach()
    assert target.precision is None  # restored on leaving
    assert low.dtype == torch.float32 and not torch.equal(low, full)  # it did run in bf16
    torch.testing.assert_close(low, full, atol=0.05 * full.abs().max().item(), rtol=0)
    assert all(g.dtype == torch.float32 for g in low_grads.values())
    whole, whole_low = (torch.cat([g[k].flatten() for k in target.param_shapes])
                        for g in (full_grads, low_grads))
    # Measured on 2026-12-05 on an AMX Xeon: 0.2-5% for the shallow targets, 11% for ResNet-32 (the
    # error grows with depth; targets with batch norm or dropout in train mode run the loop on
    # "threads").
    assert (whole_low - whole).norm() / whole.norm() < 0.2
    torch.testing.assert_close(run()[0].detach(), full, atol=0, rtol=0)  # and full precision after it


@pytest.mark.parametrize("backend", ["vmap", "loop"])
def test_lower_precision_reaches_every_convolution_and_linear_layer(backend):
    # Under vmap torch 2.13's autocast alone leaves convolutions in float32. (Hooks keep
    # "threads" in the loop; its bf16 shows in the test above.)
    module = build_target("resnet_cifar").train()
    target = TargetNet(module, module.input_shape, backend=backend)
    # Batch norm too: under vmap it normalises in float32 and hands on bfloat16, as in the loop.
    layers = {s.name for s in target.layers} | {s.norm for s in target.layers if s.norm}
    seen = record_output_dtypes(module, layers)
    weights = random_batch(target, 2, dtype=torch.float32)
    with target.lower_precision(torch.bfloat16):
        out = target(weights, torch.randn(3, *module.input_shape))
    assert out.dtype == torch.float32
    assert seen.keys() == layers and set(seen.values()) == {torch.bfloat16}


def test_under_vmap_a_callers_autocast_leaves_float64_networks_alone():
    # As autocast does outside vmap: it lowers float32 only.
    module = DeutschMNIST().double()
    target = TargetNet(module, module.input_shape, backend="vmap")
    weights = random_batch(target, 2)
    x = torch.randn(3, *module.input_shape, dtype=torch.float64)
    plain = target(weights, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(target(weights, x), plain)


def test_a_target_deep_copies_and_pickles_with_its_precision():
    import copy
    import pickle

    module = DeutschMNIST()
    target = TargetNet(module, module.input_shape, backend="loop")
    with target.lower_precision(torch.bfloat16):
        assert copy.deepcopy(target).precision == torch.bfloat16
        assert pickle.loads(pickle.dumps(target)).precision == torch.bfloat16


@pytest.mark.parametrize("backend", ["vmap", "loop"])
def test_without_lower_precision_a_callers_autocast_stays_in_force(backend):
    module = DeutschMNIST()
    target = TargetNet(module, module.input_shape, backend=backend)
    weights = random_batch(target, 2, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = target(weights, torch.randn(3, *module.input_shape))
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize("precision", [None, torch.bfloat16])
def test_torch_compile_traces_a_vmap_call_in_one_graph(precision):
    """train.compile compiles the training loss, target calls included: no graph breaks there."""
    import torch._dynamo as dynamo

    module = DeutschMNIST()
    target = TargetNet(module, module.input_shape, backend="vmap")
    weights = random_batch(target, 2, dtype=torch.float32)

    def loss(weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        with target.lower_precision(precision):
            return target(weights, x).sum()

    dynamo.reset()
    explained = dynamo.explain(loss)(weights, torch.randn(3, *module.input_shape))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


def test_building_a_target_keeps_each_submodules_own_mode():
    """The trial forward passes restored the top's mode on every submodule: a frozen batch norm
    in a training module trained again, MC-dropout in an eval module stopped drawing."""
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    net.train()
    net[1].eval()
    TargetNet(net, (4,))
    assert net.training and not net[1].training and net[2].training
    net.eval()
    net[2].train()
    TargetNet(net, (4,))
    assert not net.training and not net[1].training and net[2].training


class Offset(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.register_buffer("off", torch.zeros(()))

    def forward(self, x):
        return self.fc(x) + self.off


@pytest.mark.parametrize("backend", ["loop", "vmap", "threads"])
def test_a_buffer_replaced_after_the_target_was_built_is_the_one_used(backend):
    net = Offset()
    target = TargetNet(net, (4,), backend=backend)
    w = {k: torch.randn(3, *s) for k, s in target.param_shapes.items()}
    x = torch.randn(5, 4)
    before = target(w, x)
    net.off = torch.tensor(5.0)  # a new tensor: the target kept the old one
    torch.testing.assert_close(target(w, x), before + 5)


def test_under_vmap_a_callers_float32_region_stays_float32():
    """The mode lowered every linear layer, inside a region the caller kept out of autocast."""
    seen = []

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            h = self.a(x)
            with torch.autocast("cpu", enabled=False):
                out = self.b(h.float())
            seen.append((h.dtype, out.dtype))  # the target returns the weights' dtype: seen here
            return out

    dtypes = {}
    for backend in ("vmap", "loop"):
        target = TargetNet(Head(), (4,), backend=backend)
        w = {k: torch.randn(2, *s) for k, s in target.param_shapes.items()}
        seen.clear()
        with target.lower_precision(torch.bfloat16):
            target(w, torch.randn(3, 4))
        dtypes[backend] = set(seen)
    assert dtypes == {"vmap": {(torch.bfloat16, torch.float32)}, "loop": {(torch.bfloat16, torch.float32)}}


def test_instance_norm_with_running_statistics_runs_in_bf16_under_vmap():
    """It met float32 statistics with a bfloat16 input inside C++ ("expected scalar type")."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2, affine=True, track_running_stats=True),
                        nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    target = TargetNet(net, (1, 6, 6), backend="vmap")
    w = {k: torch.randn(2, *s) for k, s in target.param_shapes.items()}
    w.update({k: torch.ones(2, *s) for k, s in target.stat_shapes.items()})
    with target.lower_precision(torch.bfloat16):
        out = target(w, torch.randn(3, 1, 6, 6))
    assert out.shape == (2, 3, 3) and torch.isfinite(out).all()


def test_auto_runs_small_networks_with_vmap_on_the_cpu():
    """A Python call per network was most of a small network's time (bench/backends.py): up to
    4 MFLOP a network call on one thread, 8 on two or more."""
    was = torch.get_num_threads()
    digits = TargetNet(DigitsNet(), (1, 8, 8))  # 0.097 MFLOP an image
    mlp = TargetNet(nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)), (784,))  # 0.81
    try:
        torch.set_num_threads(2)
        assert digits._vmap_wins(64) and not digits._vmap_wins(128)
        assert mlp._vmap_wins(8) and not mlp._vmap_wins(16)
        assert not TargetNet(DeutschMNIST(), (1, 28, 28))._vmap_wins(2)  # 6.3 MFLOP an image
        torch.set_num_threads(1)
        assert digits._vmap_wins(32) and not digits._vmap_wins(64)
        assert mlp._vmap_wins(4) and not mlp._vmap_wins(8)
    finally:
        torch.set_num_threads(was)


class Itemised(nn.Module):
    """A forward vmap cannot run (.item())."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.fc(x)
        return y * (2.0 if y.abs().max().item() > 1e9 else 1.0)


def test_auto_keeps_the_loop_where_vmap_cannot_run_and_the_trial_changes_nothing():
    module = Itemised().eval()
    auto = TargetNet(module, (4,))
    assert not auto._vmap_wins(2) and not module.training
    # A batch-norm target does run under vmap, and the trial leaves its statistics as they were.
    norm = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    norm[1].running_mean.fill_(0.5)
    torch.manual_seed(0)
    assert TargetNet(norm, (4,))._vmap_wins(2)
    assert norm[1].running_mean.eq(0.5).all() and not norm.training
    assert torch.rand(1).item() == torch.rand(1, generator=torch.Generator().manual_seed(0)).item()
    loop = TargetNet(module, (4,), backend="loop")
    w = random_batch(loop, 3, dtype=torch.float32)
    x = torch.randn(5, 4)
    torch.testing.assert_close(auto(w, x), loop(w, x))


class Branching(nn.Module):
    """Branches on its input: vmap runs it on shared inputs (unbatched), not on each network's."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x / 255 if x.max() > 1 else x)


class Counting(nn.Module):
    """Writes to a buffer: vmap would count once a call, the loop once a network."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.fc(x)


def test_auto_takes_vmap_only_where_each_network_would_compute_the_same():
    """Three modules the first trial let through: one branching on each network's inputs (the
    trainer's), a buffer written in the forward, and a caller's hook, which expects a call per
    network. The trial and the FLOP count leave the buffers as they were."""
    assert not TargetNet(Branching(), (4,))._vmap_wins(2)
    counting = Counting()
    target = TargetNet(counting, (4,))
    assert not target._vmap_wins(2) and counting.calls.item() == 0
    hooked = nn.Sequential(nn.Linear(4, 3))
    seen = []
    hooked[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    target = TargetNet(hooked, (4,))
    assert not target._vmap_wins(2)
    target({k: torch.randn(5, *s) for k, s in target.param_shapes.items()}, torch.randn(7, 4))
    assert seen[-5:] == [torch.Size([7, 3])] * 5  # each network's own call


class ItemOnLargeBatches(nn.Module):
    """Calls .item() only on more than three inputs: the trial's two pass under vmap."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if len(x) > 3 and x.abs().max().item() > 1e9:
            x = x / 2
        return self.fc(x)


def test_a_vmap_failure_the_trial_missed_is_one_line_naming_the_way_out():
    target = TargetNet(ItemOnLargeBatches(), (4,))
    w = {k: torch.randn(3, *s) for k, s in target.param_shapes.items()}
    assert target(w, torch.randn(3, 2, 4)).shape == (3, 2, 3)  # vmap, and the branch not taken
    with pytest.raises(ConfigError, match=r"cannot run under torch.vmap, .* set target.backend: loop"):
        target(w, torch.randn(3, 5, 4))  # each network's own inputs: batched under vmap
    target.backend = "loop"
    assert target(w, torch.randn(3, 5, 4)).shape == (3, 5, 3)


def test_an_explicit_vmap_backend_that_cannot_batch_the_forward_is_one_line_naming_the_way_out():
    target = TargetNet(ItemOnLargeBatches(), (4,), backend="vmap")
    w = {k: torch.randn(3, *s) for k, s in target.param_shapes.items()}
    with pytest.raises(ConfigError, match=r"cannot run under torch.vmap, which target.backend 'vmap' asks "
                                          r"for \(.*\); set target.backend: loop"):
        target(w, torch.randn(3, 5, 4))


class Tokens(nn.Module):
    """Batch norm over tokens folded into the batch, (B·T, D): T values per channel and input."""

    def __init__(self):
        super().__init__()
        self.fc, self.bn, self.head = nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 3)

    def forward(self, x):  # x (B, T, 4)
        h = self.fc(x)
        return self.head(torch.relu(self.bn(h.reshape(-1, 6))).reshape(x.shape[0], -1, 6).mean(1))


def test_batch_statistics_of_one_input_per_network_where_torch_raises():
    """train-mode batch norm raises on one value per channel: refused before training, by name,
    exactly where a training-mode call of that many inputs raises."""
    flat = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    conv = nn.Sequential(nn.Conv2d(1, 4, 6), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3))  # 1 × 1 maps
    wide = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(64, 3))
    for module, shape, name in ((flat, (4,), "1"), (conv, (1, 6, 6), "1"), (wide, (1, 6, 6), None),
                                (Tokens(), (5, 4), None)):
        for images in (1, 2):
            raises = False
            try:
                module.train()(torch.randn(images, *shape))
            except ValueError:
                raises = True
            if raises:
                with pytest.raises(ConfigError, match=rf"batch norm '{name}' .*images_per_noise {images} "):
                    TargetNet(module, shape).check_batch_statistics(images)
            else:
                TargetNet(module, shape).check_batch_statistics(images)
            assert raises == (images == 1 and name is not None)

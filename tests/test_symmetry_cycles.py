"""The scale gauge on residual networks without batch norm: spaces on a cycle, gauged together."""

import pytest
import torch
from torch import nn

from hyperzoo.symmetry import gauge_fix, gauge_penalty, gauged_spaces, scale_gauge
from hyperzoo.targets import TargetNet


class ResMLP(nn.Module):
    """h = inp(x); h = h + b(relu(a(h))) per block; optionally h = h + relu(c(h)) (a layer that
    reads the space it writes)."""

    def __init__(self, width: int = 6, blocks: int = 2, self_loop: bool = False):
        super().__init__()
        self.inp, self.out = nn.Linear(5, width), nn.Linear(width, 3)
        self.a = nn.ModuleList(nn.Linear(width, 2 * width) for _ in range(blocks))
        self.b = nn.ModuleList(nn.Linear(2 * width, width) for _ in range(blocks))
        self.c = nn.Linear(width, width) if self_loop else None

    def forward(self, x):
        h = self.inp(x)
        for a, b in zip(self.a, self.b, strict=True):
            h = h + b(torch.relu(a(h)))
        if self.c is not None:
            h = h + torch.relu(self.c(h))
        return self.out(torch.relu(h))


class ResConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.c1, self.c2 = nn.Conv2d(4, 3, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = h + self.c2(torch.relu(self.c1(h)))
        return self.fc(torch.flatten(torch.relu(h), 1))


CASES = {"mlp": (ResMLP, (5,)), "self-loop": (lambda: ResMLP(blocks=1, self_loop=True), (5,)),
         "conv": (ResConv, (1, 5, 5))}


def target_and_weights(case: str, n: int = 3, scale: float = 3.0) -> tuple[TargetNet, dict]:
    make, shape = CASES[case]
    torch.manual_seed(0)
    target = TargetNet(make().double(), shape)
    # Weights several times a default init: the seed's condition (every channel at its fixed
    # norm) then has no solution on the stream, since |W_b W_a|² stays in its norm.
    w = {k: v.repeat(n, *[1] * (v.dim() - 1)) * scale
         * (1 + 0.3 * torch.randn(n, *v.shape[1:], dtype=v.dtype))
         for k, v in target.module_weights().items()}
    return target, w


def rescaled(target: TargetNet, w: dict, scales: list[torch.Tensor]) -> dict:
    """Every gauged space's channel c times ``scales[k][:, c]``: producers scaled, readers' inputs
    un-scaled (a symmetry of a ReLU network)."""
    r = dict(w)
    for sp, c in zip(gauged_spaces(target), scales, strict=True):
        for p in sp.producers:
            for t in p.tensors:
                r[t] = r[t] * c.reshape(*c.shape, *[1] * (r[t].dim() - 2))
        for layer in sp.consumers:
            per = c.repeat_interleave(layer.in_units // sp.channels, 1)
            r[layer.weight] = r[layer.weight] / per.reshape(*per.shape[:1], 1, per.shape[1],
                                                             *[1] * (r[layer.weight].dim() - 3))
    return r


def random_scales(target: TargetNet, n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.exp(torch.randn(n, sp.channels, generator=g, dtype=torch.float64))
            for sp in gauged_spaces(target)]


@pytest.mark.parametrize("case", CASES)
def test_the_block_and_its_stream_form_one_cycle(case):
    target, _ = target_and_weights(case)
    spaces = gauged_spaces(target)
    assert len(spaces) >= 2 and all(sp.cycle == 0 for sp in spaces)


@pytest.mark.parametrize("case", CASES)
def test_gauge_keeps_the_function_and_identifies_rescaled_copies(case):
    target, w = target_and_weights(case)
    x = torch.randn(4, *target.input_shape, dtype=torch.float64)
    g = scale_gauge(target, w)
    torch.testing.assert_close(target(g, x), target(w, x))
    r = rescaled(target, w, random_scales(target, 3, seed=1))
    torch.testing.assert_close(target(r, x), target(w, x))  # a symmetry indeed
    assert max((r[k] - w[k]).abs().max() for k in w) > 0.1
    g_r = scale_gauge(target, r)
    for k in g:  # the copies meet: before, the stream's norms kept part of the rescaling
        torch.testing.assert_close(g_r[k], g[k], rtol=1e-9, atol=1e-9)
    again = scale_gauge(target, g)
    for k in g:
        torch.testing.assert_close(again[k], g[k], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(gauge_penalty(target, gauge_fix(target, w)),
                               torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert (gauge_penalty(target, w) > 1).all()


def objective(target: TargetNet, w: dict, u: list[torch.Tensor]) -> torch.Tensor:
    """F(u) by brute force: rescale the weights by exp(u), sum the squared weights of every
    gauged space's producers, less Σ_c 2 n u_c (n: the space's element count per channel)."""
    r = rescaled(target, w, [torch.exp(k) for k in u])
    spaces = gauged_spaces(target)
    total = sum(r[t].pow(2).sum() for sp in spaces for p in sp.producers for t in p.tensors)
    return total - sum(2 * sp.filter_size * k.sum() for sp, k in zip(spaces, u, strict=True))


@pytest.mark.parametrize("case", CASES)
def test_gauge_is_the_minimum_of_its_objective_found_by_a_generic_optimiser(case):
    target, w = target_and_weights(case, n=1)
    u = [torch.zeros(1, sp.channels, dtype=torch.float64, requires_grad=True)
         for sp in gauged_spaces(target)]
    opt = torch.optim.LBFGS(u, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = objective(target, w, u)
        f.backward()
        return f

    opt.step(closure)
    naive = rescaled(target, w, [torch.exp(k.detach()) for k in u])
    g = scale_gauge(target, w)
    for k in g:
        torch.testing.assert_close(g[k], naive[k], rtol=1e-6, atol=1e-6)


def test_a_space_no_cycle_layer_reads_keeps_the_seeds_norms():
    """A chain's spaces are gauged alone, each channel at its element count (seed 000)."""
    target = TargetNet(nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(),
                                     nn.Linear(4, 3)).double(), (5,))
    assert all(sp.cycle is None for sp in gauged_spaces(target))
    w = {k: v.repeat(2, *[1] * (v.dim() - 1)) * 3 for k, v in target.module_weights().items()}
    g = scale_gauge(target, w)
    for sp in gauged_spaces(target):
        sq = sum(g[t].reshape(2, sp.channels, -1).pow(2).sum(-1) for p in sp.producers for t in p.tensors)
        torch.testing.assert_close(sq, torch.full_like(sq, sp.filter_size))


def test_gradients_through_the_cycle_gauge():
    torch.manual_seed(0)
    target = TargetNet(ResMLP(width=3, blocks=1).double(), (5,))
    w = target.module_weights()
    keys = list(w)
    probe = {k: torch.randn_like(v) for k, v in w.items()}

    def read(*tensors):  # one scalar of every gauged weight: one backward pass to check
        g = scale_gauge(target, dict(zip(keys, tensors, strict=True)))
        return sum((g[k] * probe[k]).sum() for k in keys)

    assert torch.autograd.gradcheck(read, tuple(v.clone().requires_grad_() for v in w.values()),
                                    eps=1e-6, atol=1e-6)


def test_a_dead_channel_is_left_alone():
    target, w = target_and_weights("mlp", n=2)
    w["a.0.weight"][0, 2] = 0  # a block's hidden unit 2 of network 0: no weights, no bias
    w["a.0.bias"][0, 2] = 0
    g = scale_gauge(target, w)
    assert all(v.isfinite().all() for v in g.values())
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(target(g, x), target(w, x))


def test_an_acyclic_plan_keeps_its_order():
    """The order of an acyclic plan is the one it had before cycles were found (2026-12-06): the
    relaxed gauge's penalty sums in it, and a resumed run must sum as it did (a review found a
    first version reordering every built-in target)."""
    from hyperzoo.symmetry import channel_spaces
    from hyperzoo.targets import build_target
    from tests.helpers import NormNet

    def names(module, shape):
        return [[p.name for p in sp.producers] for sp in channel_spaces(TargetNet(module, shape))]

    assert names(build_target("deutsch_mnist"), (1, 28, 28)) == [[], ["0"], ["3"], ["7"], ["9"]]
    assert names(NormNet(), (1, 8, 8)) == [[], ["2"], ["5"], ["1"], ["4"], ["7"]]
    resnet = build_target("resnet_cifar", {"depth": 8, "widths": [4, 6, 8], "in_channels": 1})
    assert names(resnet, (1, 8, 8)) == [
        [], ["stages.0.bn1"], ["stages.0.bn2", "bn"], ["stages.1.bn1"],
        ["stages.1.bn2", "stages.1.shortcut.1"], ["stages.2.bn1"],
        ["stages.2.bn2", "stages.2.shortcut.1"], ["conv"], ["stages.0.conv2"],
        ["stages.0.conv1"], ["stages.1.conv1"], ["stages.1.shortcut.0"], ["stages.1.conv2"],
        ["stages.2.conv1"], ["stages.2.shortcut.0"], ["stages.2.conv2"], ["fc"]]


def test_a_channel_that_only_reads_itself_is_left_alone():
    """h + relu(c(h)) with a stream channel whose only weight is c's own read of it: F has no
    minimum there; the scale stayed at 1/0 and every weight became NaN (a review)."""
    target, w = target_and_weights("self-loop", n=2)
    w["inp.weight"][0, 1] = 0  # stream channel 1 of network 0: no input, no bias,
    w["inp.bias"][0, 1] = 0
    w["b.0.weight"][0, 1] = 0  # no block writing it,
    w["b.0.bias"][0, 1] = 0
    w["c.weight"][0, 1] = 0  # and c reads it only into itself
    w["c.weight"][0, 1, 1] = 2.0
    w["c.bias"][0, 1] = 0
    g = scale_gauge(target, w)
    assert all(v.isfinite().all() for v in g.values())
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(target(g, x), target(w, x))


class TanhTap(nn.Module):
    """h + b(relu(a(h))) where a tanh also reads a's outputs: a's space is not gauged, so the
    stream reaches itself only through a space no gauge rescales (the plan's fallback order)."""

    def __init__(self):
        super().__init__()
        self.inp, self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 6), nn.Linear(6, 4)
        self.out = nn.Linear(4, 3)

    def forward(self, x):
        h = self.inp(x)
        t = self.a(h)
        h = h + self.b(torch.relu(t))
        return self.out(torch.relu(h)) + torch.tanh(t).mean(1, keepdim=True)


def test_a_cycle_through_an_ungauged_space_gauges_the_stream_alone():
    from hyperzoo.symmetry import channel_spaces, check_gauge

    torch.manual_seed(0)
    target = TargetNet(TanhTap().double(), (5,))
    assert [[p.name for p in sp.producers] for sp in gauged_spaces(target)] == [["inp", "b"]]
    assert all(sp.cycle is None for sp in channel_spaces(target))
    check_gauge(target, "test")
    w = {k: v.repeat(2, *[1] * (v.dim() - 1)) * 3 for k, v in target.module_weights().items()}
    g = scale_gauge(target, w)
    sp = gauged_spaces(target)[0]  # its producers read nothing it rescales: one pass is exact
    sq = sum(g[t].reshape(2, sp.channels, -1).pow(2).sum(-1) for p in sp.producers for t in p.tensors)
    torch.testing.assert_close(sq, torch.full_like(sq, sp.filter_size))

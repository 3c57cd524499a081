import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.targets import TargetNet, threads
from hyperzoo.targets.zoo import DeutschMNIST, LeNetCIFAR


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def loss_and_grads(target: TargetNet, weights: dict, x: torch.Tensor, y: torch.Tensor):
    weights = {k: v.clone().requires_grad_() for k, v in weights.items()}
    x = x.clone().requires_grad_()
    loss = F.cross_entropy(target(weights, x).flatten(0, 1), y.flatten())
    return loss, torch.autograd.grad(loss, [x, *weights.values()])


@pytest.mark.parametrize("module", [DeutschMNIST, LeNetCIFAR])
@pytest.mark.parametrize("shared", [True, False])
def test_threads_gradients_equal_the_loops_float64(two_threads, module, shared):
    torch.manual_seed(0)
    net = module().double()
    loop, on_threads = (TargetNet(net, net.input_shape, backend=b) for b in ("loop", "threads"))
    n, b = 5, 3  # five networks on two threads: pieces of 2 and 3
    weights = {k: torch.randn(n, *s, dtype=torch.float64) * 0.2 for k, s in loop.param_shapes.items()}
    x = torch.rand(*(() if shared else (n,)), b, *net.input_shape, dtype=torch.float64)
    y = torch.randint(10, (n, b))
    ref, ref_grads = loss_and_grads(loop, weights, x, y)
    loss, grads = loss_and_grads(on_threads, weights, x, y)
    torch.testing.assert_close(loss, ref)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)


def test_each_network_computes_as_on_one_thread(two_threads):
    """float32, bit for bit: a network's arithmetic on a worker is the one-thread loop's, so a
    run's numbers do not depend on how many threads computed them."""
    torch.manual_seed(0)
    net = DeutschMNIST()
    weights = {k: torch.randn(4, *s) * 0.2 for k, s in TargetNet(net, net.input_shape).param_shapes.items()}
    x, y = torch.rand(4, 6, 1, 28, 28), torch.randint(10, (4, 6))
    loss, grads = loss_and_grads(TargetNet(net, net.input_shape, backend="threads"), weights, x, y)
    torch.set_num_threads(1)
    ref, ref_grads = loss_and_grads(TargetNet(net, net.input_shape, backend="loop"), weights, x, y)
    assert torch.equal(loss, ref)
    assert all(torch.equal(g, r) for g, r in zip(grads, ref_grads, strict=True))


def test_backpropagating_twice_through_the_same_outputs(two_threads):
    net = DeutschMNIST()
    target = TargetNet(net, net.input_shape, backend="threads")
    w = {k: (torch.randn(3, *s) * 0.2).requires_grad_() for k, s in target.param_shapes.items()}
    x = torch.rand(2, 1, 28, 28)
    out = target(w, x)
    torch.autograd.grad(out.square().sum(), list(w.values()), retain_graph=True)
    second = torch.autograd.grad(out.sum(), list(w.values()))
    fresh = torch.autograd.grad(target(w, x).sum(), list(w.values()))
    for s, f in zip(second, fresh, strict=True):
        torch.testing.assert_close(s, f)


def test_workers_run_one_thread_each_and_leave_the_callers_count(two_threads):
    pool = threads.workers()
    assert list(pool.map(lambda _: torch.get_num_threads(), range(4))) == [1, 1, 1, 1]
    assert torch.get_num_threads() == 2
    torch.set_num_threads(3)
    assert threads.workers() is not pool and torch.get_num_threads() == 3


def test_networks_run_on_threads_only_where_order_cannot_matter(two_threads):
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    assert not threads.usable(net.train(), 8)  # dropout draws, batch-norm updates
    assert threads.usable(net.eval(), 8)
    assert not threads.usable(net, 1)
    handle = net[0].register_forward_hook(lambda *_: None)
    assert not threads.usable(net, 8)  # the hook is on the caller's module, not the workers' copies
    handle.remove()
    torch.set_num_threads(1)
    assert not threads.usable(net, 8)


def test_replicas_follow_the_modules_mode(two_threads):
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    replicas = threads.Replicas(net.eval())
    assert not any(m.training for r in replicas.get(2) for m in r.modules())
    net.train()
    assert all(m.training for r in replicas.get(2) for m in r.modules())


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.act, self.scale = nn.Linear(4, 3), nn.LeakyReLU(0.1), 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.act(self.fc(x))


def test_changes_to_the_module_after_its_first_call_reach_the_workers(two_threads):
    net = Scaled()
    loop, on_threads = (TargetNet(net, (4,), backend=b) for b in ("loop", "threads"))
    w = {k: torch.randn(4, *s) for k, s in loop.param_shapes.items()}
    x = torch.randn(5, 4)
    torch.testing.assert_close(on_threads(w, x), loop(w, x))
    net.scale, net.act.negative_slope = 3.0, 0.5  # public attributes, synced at every call
    torch.testing.assert_close(on_threads(w, x), loop(w, x))
    net.act = nn.Tanh()  # a new submodule: the copies are made again
    torch.testing.assert_close(on_threads(w, x), loop(w, x))
    by_hand = 3.0 * torch.tanh(torch.einsum("nij,bj->nbi", w["fc.weight"], x) + w["fc.bias"][:, None])
    torch.testing.assert_close(on_threads(w, x), by_hand)


def test_chunks_cover_every_network_once():
    assert threads.chunks(5, 2) == [range(0, 2), range(2, 5)]
    assert threads.chunks(1, 4) == [range(0, 1)]
    assert [i for r in threads.chunks(100, 16) for i in r] == list(range(100))


def test_workers_compute_under_the_callers_autocast(two_threads):
    net = DeutschMNIST()
    loop, on_threads = (TargetNet(net, net.input_shape, backend=b) for b in ("loop", "threads"))
    w = {k: torch.randn(3, *s) * 0.2 for k, s in loop.param_shapes.items()}
    x = torch.rand(2, 1, 28, 28)
    with torch.autocast("cpu", torch.bfloat16):
        out, ref = on_threads(w, x), loop(w, x)
    assert out.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(out, ref, atol=0.05, rtol=0.05)


def test_auto_trains_small_batches_on_threads_and_runs_the_rest_in_the_loop(two_threads, monkeypatch):
    net = DeutschMNIST()
    target = TargetNet(net, net.input_shape)  # auto
    calls = []
    monkeypatch.setattr(threads, "run", lambda *a: calls.append(a) or torch.zeros(2, 1, 10))
    w = {k: torch.randn(2, *s) for k, s in target.param_shapes.items()}
    target(w, torch.rand(threads.MAX_BATCH, 1, 28, 28))
    assert len(calls) == 1
    target(w, torch.rand(2, threads.MAX_BATCH + 1, 1, 28, 28))
    assert len(calls) == 1
    TargetNet(net, net.input_shape, backend="loop")(w, torch.rand(2, 1, 28, 28))
    assert len(calls) == 1  # the loop is the loop
    with torch.no_grad():  # inference: the loop, at any batch size
        target(w, torch.rand(2, 1, 28, 28))
    assert len(calls) == 1


FORK_CHILD = """
import os, signal, torch
from hyperzoo.targets import DeutschMNIST, TargetNet, threads
torch.set_num_threads(2)
threads.workers()  # the parent's workers exist; a forked child has none of their threads
pid = os.fork()
if pid == 0:
    signal.alarm(60)  # a hung child ends itself
    net = DeutschMNIST()
    target = TargetNet(net, net.input_shape, backend="threads")
    w = {k: torch.zeros(2, *s) for k, s in target.param_shapes.items()}
    os._exit(0 if target(w, torch.rand(3, 1, 28, 28)).shape == (2, 3, 10) else 1)
os._exit(os.waitpid(pid, 0)[1] >> 8)
"""


def test_a_forked_child_starts_its_own_workers():
    # In a fresh process: GNU OpenMP hangs a child forked after the parent's own parallel work,
    # whatever the backend. Without the fork handler the child waits for workers it does not have.
    subprocess.run([sys.executable, "-c", FORK_CHILD], check=True, timeout=120)


class Aliased(nn.Module):
    """Its layers also in a plain list: a copy's list held the original's layers."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self._gain = nn.Linear(4, 8), nn.Linear(8, 3), 1.0
        self.order = [self.a, self.b]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._gain * self.order[1](torch.relu(self.order[0](x)))


class OwnDropout(Scaled):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.act(self.fc(x)), 0.5, self.training)


def per_network(module: nn.Module, weights: dict, x: torch.Tensor) -> torch.Tensor:
    from torch.func import functional_call

    return torch.stack([functional_call(module, {k: v[i] for k, v in weights.items()}, (x,))
                        for i in range(len(next(iter(weights.values()))))])


def test_what_leads_back_to_the_original_module_never_runs_on_the_workers(two_threads):
    """A list of the module's layers, a forward set on the instance and a private setting
    changed after the first call: the workers computed with the original's own weights (every
    network alike) or the old setting."""
    import types

    patched = Scaled()
    patched.forward = types.MethodType(lambda self, x: torch.tanh(self.fc(x)), patched)
    for net in (Aliased(), patched):
        target = TargetNet(net, (4,), backend="threads")
        w = {k: torch.randn(4, *s) for k, s in target.param_shapes.items()}
        x = torch.randn(5, 4)
        torch.testing.assert_close(target(w, x), per_network(net, w, x))
        assert not threads.usable(net, 4)
    assert threads._own_attributes(nn.Module()) == {"training": True}


def test_a_private_setting_changed_after_the_first_call_reaches_the_workers(two_threads):
    class Gain(Scaled):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._gain * self.fc(x)

    net = Gain()
    net._gain = 1.0
    target = TargetNet(net, (4,), backend="threads")
    w, x = {k: torch.randn(4, *s) for k, s in target.param_shapes.items()}, torch.randn(5, 4)
    target(w, x)
    net._gain = 3.0
    assert threads.usable(net, 4)
    torch.testing.assert_close(target(w, x), per_network(net, w, x))


def test_a_forward_that_draws_runs_in_order_where_the_draws_repeat(two_threads):
    """F.dropout in a forward of one's own drew on two threads at once: the same seed gave
    another result each time."""
    net = OwnDropout().train()
    target = TargetNet(net, (4,))
    assert target._draws_at_random and not TargetNet(Scaled(), (4,))._draws_at_random
    w = {k: torch.randn(8, *s).requires_grad_() for k, s in target.param_shapes.items()}
    x = torch.randn(16, 4)
    runs = []
    for _ in range(3):
        torch.manual_seed(0)
        runs.append(target(w, x))
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])

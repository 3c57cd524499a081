"""`TargetNet.cross_entropy`: each network's backward with its forward (per_network.loss_each)
gives what the logits' cross-entropy gives, on every backend and setting it can meet."""

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from hyperzoo.targets import DeutschMNIST, TargetNet, threads
from hyperzoo.targets.target_net import to_channels_last


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # threads runs networks on workers only with two or more
    yield
    torch.set_num_threads(before)


def batch(target: TargetNet, n: int = 3, m: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    weights = {k: (0.2 * torch.randn(n, *s, generator=g)).requires_grad_()
               for k, s in target.param_shapes.items()}
    x = torch.rand(n, m, *target.input_shape, generator=g)
    y = torch.randint(10, (n, m), generator=g)
    return weights, x, y


def both(target: TargetNet, weights, x, y, seed: int = 0):
    """(logits, loss, gradients) of `cross_entropy` and of the logits' cross-entropy, each from
    the same global random state."""
    results = []
    for fused in (True, False):
        torch.manual_seed(seed)
        if fused:
            logits, loss = target.cross_entropy(weights, x, y)
        else:
            logits = target(weights, x)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        results.append((logits, loss, torch.autograd.grad(loss, list(weights.values()))))
    return results


def assert_same(ours, reference, exact_gradients: bool = True):
    torch.testing.assert_close(ours[0], reference[0], rtol=0, atol=0)
    torch.testing.assert_close(ours[1], reference[1], rtol=1e-6, atol=0)
    # Otherwise rounding: the loss is scaled by 1/(N·B) after each network's backward, not
    # before (a bias before batch norm has a gradient of rounding errors alone).
    scale = max(float(b.abs().max()) for b in reference[2])
    for a, b in zip(ours[2], reference[2], strict=True):
        torch.testing.assert_close(a, b, rtol=0 if exact_gradients else 1e-5,
                                   atol=0 if exact_gradients else 1e-6 * scale)


@pytest.mark.parametrize("backend", ["loop", "threads", "vmap"])
def test_equals_the_logits_cross_entropy(backend, two_threads, monkeypatch):
    ran = []
    monkeypatch.setattr(threads, "run_loss", lambda *a, run=threads.run_loss: ran.append(1) or run(*a))
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend=backend)
    # 4 x 8 examples: dividing by a power of two is exact, so the gradients are too.
    ours, reference = both(target, *batch(target, n=4, m=8))
    assert_same(ours, reference)
    assert ran == ([1] if backend == "threads" else [])
    assert ours[0].requires_grad == (backend == "vmap")  # the fused logits carry no history


def test_gradients_match_for_any_batch_size():
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    assert_same(*both(target, *batch(target, n=3, m=5)), exact_gradients=False)


def test_dropout_masks_and_batch_norm_statistics_as_in_one_forward_pass():
    """Each network draws its masks in the same order, and train-mode batch norm normalises
    over each network's own batch, as when every forward runs before any backward."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
                           nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    target = TargetNet(module, (1, 8, 8), backend="loop")
    assert_same(*both(target, *batch(target), seed=3), exact_gradients=False)


def test_lower_precision_and_inputs_that_need_a_gradient():
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    with target.lower_precision(torch.bfloat16):
        ours, reference = both(target, weights, x, y)
    torch.testing.assert_close(ours[0], reference[0])
    for a, b in zip(ours[2], reference[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-4)
    # An input gradient (adversarial training) needs the logits' history: the usual path.
    logits, loss = target.cross_entropy(weights, x.requires_grad_(), y)
    assert logits.requires_grad
    (grad_x,) = torch.autograd.grad(loss, x)
    assert grad_x.abs().sum() > 0


def test_off_where_asked_and_without_autograd():
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    target.backward_with_forward = False
    assert target.cross_entropy(weights, x, y)[0].requires_grad
    with torch.no_grad():
        logits, loss = target.cross_entropy(weights, x, y)
    assert not loss.requires_grad and torch.equal(logits, target(weights, x).detach())


def test_labels_of_another_shape_are_refused():
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    with pytest.raises(ValueError, match=r"labels \(8,\): expected \(N, B, 1, 28, 28\) and \(N, B\)"):
        target.cross_entropy(weights, x, y.flatten())
    with pytest.raises(ValueError, match=r"inputs \(4, 1, 28, 28\)"):  # shared inputs: not per network
        target.cross_entropy(weights, x[0], y)


def test_a_second_backward_through_the_loss():
    """HyperGAN backpropagates twice per step; the loss keeps its gradients for that."""
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    _, loss = target.cross_entropy(weights, x, y)
    first = torch.autograd.grad(loss, list(weights.values()), retain_graph=True)
    second = torch.autograd.grad(2 * loss, list(weights.values()))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(2 * a, b, rtol=0, atol=0)


def test_channels_last_weights_get_their_gradients_in_their_own_layout():
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    weights = {k: to_channels_last(v.detach()).requires_grad_() if v.dim() == 5 else v
               for k, v in weights.items()}
    ours, reference = both(target, weights, x, y)
    assert_same(ours, reference)


def test_hooks_see_the_usual_graph():
    """A forward hook's activation penalty lost its gradient, and backward hooks fired inside
    the forward pass on each network's own loss."""
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    seen = []
    target.module[2].register_forward_hook(lambda _m, _i, out: seen.append(out))
    logits, loss = target.cross_entropy(weights, x, y)
    # The hooked activation reaches the caller's weights (on detached copies it did not).
    (grad,) = torch.autograd.grad(seen[0].sum(), weights["0.weight"], allow_unused=True)
    assert logits.requires_grad and grad is not None and grad[0].abs().sum() > 0


def test_second_derivatives_are_refused_not_dropped():
    """A gradient penalty through the loss trained as plain cross-entropy, without a word."""
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    _, loss = target.cross_entropy(weights, x, y)
    with pytest.raises(RuntimeError, match="no second derivatives"):
        torch.autograd.grad(loss, list(weights.values()), create_graph=True)
    target.backward_with_forward = False
    _, loss = target.cross_entropy(weights, x, y)
    grads = torch.autograd.grad(loss, list(weights.values()), create_graph=True)
    assert grads[0].requires_grad


def test_a_parameter_one_network_does_not_use_gets_zeros():
    """A block skipped at random (stochastic depth) crashed the step."""

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.block, self.head = nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 10)

        def forward(self, x):
            h = self.first(x).relu()
            if self.training and torch.rand(()) < 0.5:  # skipped for some networks
                return self.head(h)
            return self.head(h + self.block(h).relu())

    target = TargetNet(Skips(), (3,), backend="loop")
    weights, x, y = batch(target, n=4, m=5)
    ours, reference = both(target, weights, x, y, seed=1)
    assert_same(ours, reference, exact_gradients=False)
    assert (ours[2][2].flatten(1).abs().sum(1) == 0).any()  # some network skipped the block


def test_the_gradients_are_freed_after_the_backward_pass():
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    weights, x, y = batch(target, n=2, m=4)
    _, loss = target.cross_entropy(weights, x, y)
    node = loss.grad_fn.next_functions[0][0]  # loss = sum / (N·B)
    assert type(node).__name__ == "WithGradientsBackward" and len(node.saved_tensors) == len(weights)
    loss.backward()
    with pytest.raises(RuntimeError, match="freed"):
        node.saved_tensors  # noqa: B018

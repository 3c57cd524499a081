"""Max-pooling through the channels-last kernel equals PyTorch's NCHW max-pool, gradients too."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.targets import DeutschMNIST, TargetNet, target_net
from hyperzoo.targets.pooling import ChannelsLastMaxPool, max_pool2d_nhwc

SETTINGS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, dilation=2),
            dict(kernel_size=(3, 2), stride=(2, 1), ceil_mode=True)]


@pytest.mark.parametrize("kw", SETTINGS)
def test_values_and_gradients_equal_pytorchs_including_ties(kw):
    gen = torch.Generator().manual_seed(0)
    for x in (torch.randn(3, 4, 11, 10, generator=gen),
              torch.randint(-1, 2, (3, 4, 11, 10), generator=gen).float()):  # ties everywhere
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ref, out = F.max_pool2d(a, **kw), max_pool2d_nhwc(b, **kw)
        g = torch.randn(ref.shape, generator=gen)
        ref.backward(g)
        out.backward(g)
        assert out.is_contiguous() and torch.equal(out, ref)
        assert torch.equal(b.grad, a.grad)  # the first maximum of a window gets it, as in PyTorch


def test_second_order_and_torch_func_gradients():
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: max_pool2d_nhwc(t, 2) ** 2, (x,))
    grad = torch.func.grad(lambda t: max_pool2d_nhwc(t, 2).pow(2).sum())(x.detach())
    torch.testing.assert_close(grad, torch.func.grad(lambda t: F.max_pool2d(t, 2).pow(2).sum())(x.detach()))


def test_the_mode_replaces_only_nchw_pools_under_autograd():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with ChannelsLastMaxPool():
        y = nn.MaxPool2d(2)(x)
        assert y.grad_fn is not None and "MaxPoolNHWC" in type(y.grad_fn).__name__
        for kept in (nn.MaxPool2d(2)(x.detach()),  # no autograd: PyTorch's own
                     nn.MaxPool2d(2)(x.contiguous(memory_format=torch.channels_last)),  # NHWC already
                     F.max_pool2d(x, 2, return_indices=True)[0]):
            assert kept.grad_fn is None or "MaxPoolNHWC" not in type(kept.grad_fn).__name__
            assert torch.equal(kept, F.max_pool2d(x.detach(), 2))


def test_a_training_step_is_bit_identical_with_either_pool(monkeypatch):
    target = TargetNet(DeutschMNIST(), (1, 28, 28), backend="loop")
    target.channels_last = False  # NCHW: channels-last tensors are pooled by PyTorch's own kernel
    gen = torch.Generator().manual_seed(0)
    w = {k: torch.randn(3, *s, generator=gen) * 0.2 for k, s in target.param_shapes.items()}
    x, y = torch.rand(3, 5, 1, 28, 28, generator=gen), torch.randint(10, (3, 5), generator=gen)

    def grads(nhwc_pools: int) -> dict[str, torch.Tensor]:
        leaves = {k: v.clone().requires_grad_() for k, v in w.items()}
        loss = F.cross_entropy(target(leaves, x).flatten(0, 1), y.flatten())
        assert graph_names(loss.grad_fn).count("_MaxPoolNHWCBackward") == nhwc_pools
        loss.backward()
        return {k: v.grad for k, v in leaves.items()}

    nhwc = grads(nhwc_pools=2 * 3)  # two pools in each of 3 networks
    monkeypatch.setattr(target_net, "_pool_nhwc", lambda x: False)
    nchw = grads(nhwc_pools=0)
    assert all(torch.equal(nhwc[k], nchw[k]) for k in w)


def graph_names(fn) -> list[str]:
    """Names of the autograd nodes reachable from ``fn``, each node once."""
    seen, todo, names = set(), [fn], []
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        todo.extend(next_fn for next_fn, _ in node.next_functions)
    return names

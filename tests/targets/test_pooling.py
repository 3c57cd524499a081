import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from hyperzoo.targets import CIFARResNet, DeutschMNIST, HyperGANCIFAR, TargetNet, pooling
from hyperzoo.targets.pooling import IndexFreePooling, max_pool_2x2_channels_last
from hyperzoo.targets.target_net import to_channels_last


def nhwc(*shape: int, dtype=torch.float32) -> torch.Tensor:
    return to_channels_last(torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype))


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 5, 7, 9), (1, 1, 2, 2), (3, 1, 28, 28), (1, 4, 3, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_max_pool2d(shape, dtype):
    x = nhwc(*shape, dtype=dtype)
    x[..., ::3, ::2] = float("-inf")  # whole windows of -inf, and windows with some
    out = max_pool_2x2_channels_last(x)
    assert torch.equal(out, F.max_pool2d(x, 2))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_nan_propagates_as_in_max_pool2d():
    x = nhwc(1, 2, 4, 4)
    x[0, 1, 2, 3] = float("nan")
    torch.testing.assert_close(max_pool_2x2_channels_last(x), F.max_pool2d(x, 2), equal_nan=True)
    assert max_pool_2x2_channels_last(x)[0, 1, 1, 1].isnan()


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    seen: list[int] = []

    def counted(x):
        seen.append(1)
        return max_pool_2x2_channels_last(x)
    monkeypatch.setattr(pooling, "max_pool_2x2_channels_last", counted)
    return seen


@pytest.mark.parametrize("pool", [
    nn.MaxPool2d(2), nn.MaxPool2d((2, 2), stride=2), nn.MaxPool2d(2, padding=0, dilation=1),
    lambda x: F.max_pool2d(x, 2), lambda x: F.max_pool2d(input=x, kernel_size=2, stride=None),
    lambda x: torch.max_pool2d(x, [2, 2]), lambda x: torch.max_pool2d(x, [2, 2], [2, 2])])
def test_plain_2x2_pools_take_the_index_free_path(pool, calls):
    x = nhwc(2, 3, 6, 6)
    with torch.no_grad(), IndexFreePooling():
        out = pool(x)
    assert calls == [1]
    assert torch.equal(out, F.max_pool2d(x, 2))


@pytest.mark.parametrize("pool", [
    nn.MaxPool2d(3), nn.MaxPool2d(2, stride=1), nn.MaxPool2d(2, padding=1), nn.MaxPool2d(2, dilation=2),
    nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d((2, 3))])
def test_other_pools_run_as_usual(pool, calls):
    x = nhwc(2, 3, 7, 7)
    with torch.no_grad(), IndexFreePooling():
        out = pool(x)
    assert calls == []
    assert torch.equal(out, pool(x))


def test_indices_nchw_and_autograd_run_as_usual(calls):
    x = nhwc(2, 3, 6, 6)
    with IndexFreePooling():
        with torch.no_grad():
            values, indices = F.max_pool2d(x, 2, return_indices=True)
            F.max_pool2d(x.contiguous(), 2)  # NCHW
            F.max_pool2d(x[0], 2)  # unbatched
        # Under autograd torch.maximum would split the gradient between ties.
        y = F.max_pool2d(x.clone().requires_grad_(), 2)
    assert calls == []
    assert indices.dtype == torch.long and y.requires_grad


@pytest.mark.parametrize("cls", [DeutschMNIST, HyperGANCIFAR])
def test_target_inference_equals_the_native_pooling(cls, calls):
    torch.manual_seed(0)
    module = cls()
    target = TargetNet(module, tuple(cls.input_shape), backend="loop")
    weights = {k: 0.1 * torch.randn(3, *s) for k, s in target.param_shapes.items()}
    x = torch.rand(5, *cls.input_shape)
    with torch.no_grad():
        fast = target(weights, x)
        assert calls  # the path under test ran
        target.index_free_pooling = False
        native = target(weights, x)
    assert torch.equal(fast, native)


def test_only_targets_that_max_pool_take_the_mode():
    # Elsewhere it would only cost a Python dispatch per operation.
    assert TargetNet(DeutschMNIST(), (1, 28, 28)).index_free_pooling

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return F.max_pool2d(self.conv(x), 2).flatten(1)
    assert TargetNet(Functional(), (1, 8, 8)).index_free_pooling
    assert not TargetNet(CIFARResNet(), (3, 32, 32)).index_free_pooling


def test_relus_after_index_free_pooling_keep_their_layers():
    """The pooled tensor was written with out= into an empty one: the diagnostics, which trace a
    ReLU to its layer through functions' arguments, lost every "(after convN)" label."""
    from hyperzoo.diagnostics import activity
    from hyperzoo.targets import DigitsNet

    target = TargetNet(DigitsNet(), (1, 8, 8))
    assert target.channels_last and target.index_free_pooling
    weights = {k: 0.3 * torch.randn(2, *s, generator=torch.Generator().manual_seed(0))
               for k, s in target.param_shapes.items()}
    labels = []
    for flag in (True, False):
        target.index_free_pooling, after = flag, {}
        activity(target, weights, torch.rand(3, 1, 8, 8), after)
        labels.append(after)
    assert labels[0] == labels[1] and len(labels[0]) == 3


def test_pools_the_mode_cannot_take_do_not_turn_it_on():
    """A 3x3 pool, or a target the loop runs in NCHW, only paid the mode's dispatch."""

    class Pool3(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return F.max_pool2d(self.conv(x), 3, 2, 1).flatten(1)

    class Viewed(nn.Module):  # x.view after a convolution: no NHWC
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            y = nn.functional.max_pool2d(self.conv(x), 2)
            return y.view(len(y), -1)
    assert not TargetNet(Pool3(), (1, 8, 8)).index_free_pooling
    viewed = TargetNet(Viewed(), (1, 8, 8))
    assert not viewed.channels_last and not viewed.index_free_pooling

"""The built-in targets: seed 004's layer shapes and weight counts, and the pooling order."""

import pytest
import torch
from torch import nn

from hyperzoo.targets import TargetNet, build_target
from hyperzoo.targets.zoo import VGGCIFAR, StaticMNIST, pool_then


def test_static_mnist_counts_match_seed_004_table_6():
    t = TargetNet(StaticMNIST(), StaticMNIST.input_shape)
    assert [s.weight_shape for s in t.layers] == [(16, 1, 7, 7), (16, 16, 7, 7), (10, 784)]
    assert [s.num_weights for s in t.layers] == [800, 12_560, 7_850]
    # "Parameters of 2nd kernel" 12,560 = 7·7·16·16 kernel + 16 biases; total 21,210.
    assert t.layers[1].num_weights == 7 * 7 * 16 * 16 + 16
    assert t.num_weights == 21_210


@pytest.mark.parametrize(("blocks", "conv_after_first"), [(1, 2_320), (2, 16_208), (3, 71_632)])
def test_vgg_conv_counts_match_seed_004_tables_3_to_5(blocks, conv_after_first):
    t = TargetNet(VGGCIFAR(blocks), VGGCIFAR.input_shape)
    convs = [s for s in t.layers if s.kind == "conv"]
    assert len(convs) == 2 * blocks
    # The seed's "Conv parameters" leave out the first conv and include biases.
    assert sum(s.num_weights for s in convs[1:]) == conv_after_first
    dense = [s.weight_shape for s in t.layers if s.kind == "linear"]
    side = 32 // 2 ** blocks
    assert dense == [(128, 16 * 2 ** (blocks - 1) * side * side), (10, 128)]


def test_vgg_dropout_only_in_training_mode():
    torch.manual_seed(0)
    net = build_target("vgg_cifar", {"blocks": 2, "dense_dropout": 0.5})
    x = torch.rand(4, 3, 32, 32)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    assert net(x).shape == (4, 10)


def test_vgg_rejects_other_depths():
    with pytest.raises(ValueError, match="1, 2 or 3 blocks"):
        VGGCIFAR(4)


def test_resnet32_parameter_count():
    from hyperzoo.targets.zoo import CIFARResNet

    module = CIFARResNet()
    total = sum(p.numel() for p in module.parameters())
    # He et al.'s "0.46M" (option A) plus the two 1×1 projection shortcuts with batch norm
    # (16·32 + 2·32 and 32·64 + 2·64) of option B.
    projections = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert total == 466_906 and total - projections == 464_154
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 2 * 15 + 2  # stem, 3 stages × 5 blocks × 2, two projections
    assert module(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.LeakyReLU])
def test_pooling_before_the_activation_is_the_same_function(activation):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3).double()
    pool_first = nn.Sequential(conv, *pool_then(activation()))
    seed_order = nn.Sequential(conv, activation(), nn.MaxPool2d(2))
    x = torch.randn(5, 3, 10, 10, dtype=torch.float64, requires_grad=True)
    out, ref = pool_first(x), seed_order(x)
    assert torch.equal(out, ref)
    grads = torch.autograd.grad(out.sum(), [x, conv.weight])
    assert all(torch.equal(g, r) for g, r in zip(grads, torch.autograd.grad(ref.sum(), [x, conv.weight]),
                                                 strict=True))

import torch

from hyperzoo.analysis.filters import filter_images
from hyperzoo.analysis.norms import layer_norms
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DeutschMNIST


def batch(n=4):
    target = TargetNet(DeutschMNIST(), (1, 28, 28))
    return target, {k: torch.randn(n, *s) for k, s in target.param_shapes.items()}


def test_filter_images_follow_the_layer_layout():
    target, w = batch()
    assert torch.equal(filter_images(target, w, 0, unit=3), w["0.weight"][:, 3, 0])
    assert torch.equal(filter_images(target, w, 1, unit=2, channel=5), w["3.weight"][:, 2, 5])
    # The fc layer after 16 channels of 7×7 shows channel 4 of neuron 1 as a 7×7 image.
    img = filter_images(target, w, 2, unit=1, channel=4)
    assert img.shape == (4, 7, 7)
    assert torch.equal(img.flatten(1), w["7.weight"][:, 1, 4 * 49:5 * 49])


def test_a_linear_layer_after_a_conv1d_shows_one_channel_as_a_row():
    """16 positions after a Conv1d: a row, never a 4×4 "image" of a sequence."""
    from torch import nn

    module = nn.Sequential(nn.Conv1d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 16, 3))
    target = TargetNet(module, (4, 18))
    w = {k: torch.randn(2, *s) for k, s in target.param_shapes.items()}
    row = filter_images(target, w, 1, unit=2, channel=5)
    assert row.shape == (2, 1, 16)
    assert torch.equal(row[:, 0], w["3.weight"][:, 2, 5 * 16:6 * 16])


def test_a_linear_layer_after_a_global_pool_shows_its_whole_row():
    """One input per channel: not a 1×1 "image" of channel 0 alone."""
    from torch import nn

    module = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(6, 3))
    target = TargetNet(module, (1, 8, 8))
    w = {k: torch.randn(2, *s) for k, s in target.param_shapes.items()}
    assert torch.equal(filter_images(target, w, 1, unit=2), w["4.weight"][:, 2][:, None, :])


def test_layer_norms():
    target, w = batch()
    w["9.weight"] = torch.ones(4, 10, 8) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1)
    norms = layer_norms(target, w)
    assert list(norms) == ["0", "3", "7", "9"]
    assert abs(norms["9"]["mean"] - 2.5 * 80**0.5) < 1e-5
    # sample variance of 80^½·(1, 2, 3, 4): 80 · 5/3
    assert abs(norms["9"]["var"] - 80 * 5 / 3) < 1e-3
    assert abs(norms["9"]["std"] ** 2 - norms["9"]["var"]) < 1e-6


def test_layer_norms_of_one_network_have_no_spread():
    """One network has no variance: 0 read as networks that agree (the report's Table 3 row)."""
    target, w = batch(1)
    assert all(v["var"] is None and v["std"] is None for v in layer_norms(target, w).values())

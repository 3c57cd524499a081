import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.config import ConfigError, load_config
from hyperzoo.methods import MCDropout, MCDropoutConfig, build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train


def mlp_method(p: float) -> MCDropout:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3))
    return MCDropout(TargetNet(module.double(), (5,)), MCDropoutConfig(p=p)).double()


def test_a_sample_is_the_network_with_hidden_units_dropped():
    """Sample i equals the trained network with mask i applied to each hidden activation."""
    m = mlp_method(0.4)
    x = torch.randn(9, 5, dtype=torch.float64)
    n = 4
    out = m.target(m.sample(n, generator=torch.Generator().manual_seed(3)), x)  # (n, 9, 3)
    masks = m.masks(n, generator=torch.Generator().manual_seed(3))
    p = {k.replace("__", "."): v for k, v in m.params.items()}
    for i in range(n):
        h = torch.relu(x @ p["0.weight"].T + p["0.bias"]) * masks["0"][i]
        h = torch.relu(h @ p["2.weight"].T + p["2.bias"]) * masks["2"][i]
        torch.testing.assert_close(out[i], h @ p["4.weight"].T + p["4.bias"])


def test_masks_drop_units_at_rate_p_and_keep_the_mean():
    m = mlp_method(0.3)
    masks = m.masks(4000, generator=torch.Generator().manual_seed(0))
    assert set(masks) == {"0", "2"} and masks["0"].shape == (4000, 7)  # hidden layers only
    dropped = torch.cat([v.flatten() for v in masks.values()]).eq(0).double().mean().item()
    assert abs(dropped - 0.3) < 0.01
    assert abs(torch.cat([v.flatten() for v in masks.values()]).mean().item() - 1.0) < 0.02


def test_without_dropout_every_sample_is_the_trained_network():
    m = mlp_method(0.0)
    w = m.sample(3)
    for k, v in w.items():
        assert torch.equal(v, m.params[k.replace(".", "__")].expand_as(v))


def test_bad_rate_is_a_config_error():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    with pytest.raises(ConfigError, match=r"'method.p' = 1.0 must be in \[0, 1\)"):
        build_method(target, {"name": "mc_dropout", "p": 1.0})


@pytest.mark.parametrize("name", ["deutsch_mnist", "hypergan_mnist", "lenet_cifar", "vgg_cifar",
                                  "resnet_cifar", "digits_net"])
def test_zoo_targets_are_accepted(name):
    """Their hidden units reach the next layer through ReLU, pooling, batch norm and additions."""
    from hyperzoo.targets.registry import build_target

    shape = {"deutsch_mnist": (1, 28, 28), "hypergan_mnist": (1, 28, 28), "digits_net": (1, 8, 8)}
    build_method(TargetNet(build_target(name), shape.get(name, (3, 32, 32))), {"name": "mc_dropout"})


@pytest.mark.parametrize("middle", [[nn.Tanh()], [nn.GELU()], [nn.Sigmoid()], [nn.LayerNorm(7), nn.ReLU()]],
                         ids=["tanh", "gelu", "sigmoid", "layer_norm"])
def test_targets_where_a_zeroed_filter_is_not_dropout_are_refused(middle):
    """sigmoid(0) = 1/2 is no dropped unit; tanh(z / (1 - p)) is not tanh(z) / (1 - p); a layer norm
    reads the zeroed channel in every other channel's statistics."""
    module = nn.Sequential(nn.Linear(5, 7), *middle, nn.Linear(7, 3))
    name = type(middle[0]).__name__
    with pytest.raises(ConfigError, match=rf"mc_dropout.*the output of '0' reaches '1' \({name}\), which "
                                          r"is not positively homogeneous or mixes channels$"):
        build_method(TargetNet(module, (5,)), {"name": "mc_dropout"})


class Reshaped(nn.Module):
    """Ops that only move a unit's values: a flatten by view, a concatenated skip, zero padding,
    a residual added onto the input; `then` after the view decides."""

    def __init__(self, then: nn.Module | None = None, pad: float = 0.0):
        super().__init__()
        self.conv, self.conv2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)
        self.skip, self.head = nn.Linear(64, 64), nn.Linear(4 * 36 + 64, 3)
        self.then, self.pad = then or nn.Identity(), pad

    def forward(self, x):
        h = torch.relu(self.conv2(F.pad(torch.relu(self.conv(x)), (1, 1, 1, 1), value=self.pad)))
        flat = x.view(x.size(0), -1)
        return self.head(torch.cat([self.then(h.view(h.size(0), -1)), flat + torch.relu(self.skip(flat))], 1))


def test_reshapes_concatenations_zero_padding_and_a_residual_pass_units_on():
    """Zeroing a filter there still zeroes the unit wherever its values go (was refused)."""
    target = TargetNet(Reshaped(), (1, 8, 8))
    build_method(target, {"name": "mc_dropout"})
    with pytest.raises(ConfigError, match=r"the output of 'conv2' reaches 'then' \(Tanh\)"):
        build_method(TargetNet(Reshaped(nn.Tanh()), (1, 8, 8)), {"name": "mc_dropout"})
    with pytest.raises(ConfigError, match=r"the output of 'conv' reaches pad\(\)"):  # padding with 1s
        build_method(TargetNet(Reshaped(pad=1.0), (1, 8, 8)), {"name": "mc_dropout"})


def test_with_batch_norm_a_sample_is_dropout_after_the_norm():
    """Train-mode batch norm: a zeroed channel stays 0, and a kept one (filter scaled by 1/(1 - p))
    is normalised back, its scale and shift carrying the 1/(1 - p): dropout after the norm."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 3)).double()
    m = MCDropout(TargetNet(module, (5,)), MCDropoutConfig(p=0.5)).double()
    with torch.no_grad():  # the trained network, with a norm scale and shift away from 1 and 0
        m.params["1__weight"].uniform_(0.5, 1.5)
        m.params["1__bias"].uniform_(-0.5, 0.5)
        module.load_state_dict({k.replace("__", "."): v for k, v in m.params.items()}, strict=False)
    x = torch.randn(64, 5, dtype=torch.float64)
    out = m.target(m.sample(3, generator=torch.Generator().manual_seed(1)), x)
    masks = m.masks(3, generator=torch.Generator().manual_seed(1))["0"]
    assert 0 < masks.eq(0).sum() < masks.numel()
    for i in range(3):
        h = torch.relu(module[1](module[0](x))) * masks[i]
        # Up to batch norm's eps, which a scaled filter meets at another scale.
        torch.testing.assert_close(out[i], module[3](h), rtol=1e-4, atol=1e-4)


def test_short_training_beats_chance_and_samples_differ(tmp_path):
    last = train(load_config(None, ["method.name=mc_dropout", "method.p=0.2", "train.steps=150",
                                    "train.lr=0.003", "train.noise_batch=8", "train.val_every=150",
                                    "train.val_networks=8"]),
                 tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1
    assert last["val_std_accuracy"] > 0


def test_an_untraceable_target_is_refused_without_the_gauges_advice():
    """Without a graph nothing can tell whether a zeroed filter is a dropped unit."""
    from tests.test_symmetry_residual import Branchy

    with pytest.raises(ConfigError, match=r"^method 'mc_dropout' needs the target's graph .*cannot "
                                          r"trace Branchy[^;]*$"):
        build_method(TargetNet(Branchy(), (3,)), {"name": "mc_dropout"})


class PreActivation(nn.Module):
    """A pre-activation residual block: ``bn2`` is called right after ``conv2`` but normalises
    the sum of ``stem`` and ``conv2``."""

    def __init__(self):
        super().__init__()
        self.stem, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1, self.bn2, self.head = nn.BatchNorm2d(4), nn.BatchNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.conv2(torch.relu(self.bn1(x)))
        return self.head(torch.relu(self.bn2(x)).mean((2, 3)))


def test_a_norm_reading_a_residual_sum_is_refused():
    """Masking bn2's channel with conv2's unit zeroed stem's part of that channel too (a review
    measured outputs off by half their size against dropout of conv2's unit): refused, by name."""
    with pytest.raises(ConfigError, match=r"drops a unit of 'conv2' with the scale and shift of 'bn2', "
                                          r"the norm called after it, but 'bn2' reads more than 'conv2''s "):
        build_method(TargetNet(PreActivation(), (1, 6, 6)), {"name": "mc_dropout"})


class Flattened(nn.Module):
    """A norm reached through ``x.view(x.size(0), -1)``: its input is the layer's output alone."""

    def __init__(self):
        super().__init__()
        self.fc, self.bn, self.head = nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Linear(6, 3)

    def forward(self, x):
        h = self.fc(x)
        return self.head(torch.relu(self.bn(h.view(h.size(0), -1))))


def test_a_norm_reached_through_a_reshape_by_size_is_accepted():
    build_method(TargetNet(Flattened(), (5,)), {"name": "mc_dropout"})


def test_the_models_own_dropout_is_said_to_act_in_training_only(capsys):
    from tests.helpers import DropoutNet

    method = build_method(TargetNet(DropoutNet(), (1, 8, 8)), {"name": "mc_dropout", "p": 0.2})
    method.check_training(4, 10)
    assert "your model's dropout (3) acts in training only" in capsys.readouterr().err
    build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "mc_dropout"}).check_training(4)
    assert "your model's dropout" not in capsys.readouterr().err

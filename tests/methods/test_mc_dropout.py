import pytest
import torch
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


def test_short_training_beats_chance_and_samples_differ(tmp_path):
    last = train(load_config(None, ["method.name=mc_dropout", "method.p=0.2", "train.steps=150",
                                    "train.lr=0.003", "train.noise_batch=8", "train.val_every=150",
                                    "train.val_networks=8"]),
                 tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1
    assert last["val_std_accuracy"] > 0

import pytest
import torch
from torch import nn

from hyperzoo.config import ConfigError
from hyperzoo.devices import normal
from hyperzoo.methods import GaussianNoise, GaussianNoiseConfig, build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet


def mlp_method(sigma: float) -> GaussianNoise:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    return GaussianNoise(TargetNet(module.double(), (5,)), GaussianNoiseConfig(sigma=sigma)).double()


def test_zero_sigma_gives_copies_of_the_trained_network():
    m = mlp_method(0.0)
    w = m.sample(4, generator=torch.Generator().manual_seed(1))
    for k, v in m.current().items():
        assert w[k].shape == (4, *v.shape)
        assert torch.equal(w[k], v.expand_as(w[k]))


def test_a_sample_is_the_network_plus_noise_scaled_by_sigma_times_each_tensors_rms():
    """Exactly w + σ·rms(w)·ε for the generator's ε, and over many samples the empirical std
    per tensor is σ·rms(w) (float64)."""
    sigma = 0.3
    m = mlp_method(sigma)
    n = 4000
    w = m.sample(n, generator=torch.Generator().manual_seed(2))
    # ε: one standard-normal draw of every tensor's values per network, row by row.
    sizes = [v.numel() for v in m.current().values()]
    flat = normal((n, sum(sizes)), torch.Generator().manual_seed(2), "cpu", torch.float64)
    for (k, v), eps in zip(m.current().items(), flat.split(sizes, dim=1), strict=True):
        rms = v.detach().pow(2).mean().sqrt()
        torch.testing.assert_close(w[k], v + sigma * rms * eps.reshape(n, *v.shape))
        noise = (w[k] - v).detach()
        assert abs(noise.std().item() / (sigma * rms.item()) - 1) < 0.03, k
        assert noise.mean(0).abs().max().item() < 5 * sigma * rms.item() / n ** 0.5, k


def test_sigma_is_a_saved_buffer_not_a_parameter():
    m = mlp_method(0.25)
    assert m.state_dict()["sigma"].item() == 0.25
    assert all(p is not m.sigma for p in m.parameters())


@pytest.mark.parametrize("sigma", [-0.1, float("nan")])
def test_bad_sigma_is_a_config_error(sigma):
    with pytest.raises(ConfigError, match="'method.sigma' = .* must be"):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "gaussian_noise", "sigma": sigma})

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from hyperzoo.config import ConfigError, load_config
from hyperzoo.methods import BayesianHypernetwork, BHNConfig, build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train


def tiny(**kwargs) -> BayesianHypernetwork:
    """conv 2→3, linear 48→5 (8 units), float64, parameters moved off their initial values."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5))
    m = BayesianHypernetwork(TargetNet(module.double(), (2, 4, 4)),
                             BHNConfig(flow_hidden=6, dataset_size=100, **kwargs)).double()
    for p in m.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    return m


def test_sample_shapes_and_parameter_count():
    m = tiny(flows=3)
    w = m.sample(7, generator=torch.Generator().manual_seed(0))
    assert {k: tuple(v.shape) for k, v in w.items()} == {
        k: (7, *s) for k, s in m.target.param_shapes.items()}
    d, h = 8, 6  # one scale per unit: 3 filters + 5 outputs
    directions_and_biases = (3 * 2 * 9 + 3) + (5 * 48 + 5)
    flow = 3 * (d * h + h + h * 2 * d + 2 * d)
    assert sum(p.numel() for p in m.parameters()) == directions_and_biases + flow + 2 * d


def test_a_network_is_its_directions_at_the_sampled_scales():
    """Per network, computed alone: unit i's weights are g_i · v_i/‖v_i‖, biases the point
    estimates, g = loc + e^s ⊙ f(ε) on that network's noise."""
    m = tiny()
    n = 4
    w = m.sample(n, generator=torch.Generator().manual_seed(1))
    eps = m.noise(n, torch.Generator().manual_seed(1))
    for i in range(n):
        g = m.scale_loc + m.scale_log_std.exp() * m.flow(eps[i][None])[0][0]
        v_conv, v_lin = m.directions["0__weight"], m.directions["3__weight"]
        for k in range(3):
            torch.testing.assert_close(w["0.weight"][i, k], g[k] * v_conv[k] / v_conv[k].norm())
        for k in range(5):
            torch.testing.assert_close(w["3.weight"][i, k], g[3 + k] * v_lin[k] / v_lin[k].norm())
        assert torch.equal(w["0.bias"][i], m.biases["0__bias"])
        assert torch.equal(w["3.bias"][i], m.biases["3__bias"])


def test_kl_with_an_identity_flow_is_that_of_diagonal_gaussians():
    """No coupling: q(g) = N(loc, e^{2s}). The per-sample estimate log q − log p is exact
    pointwise, and its mean over many draws is KL(q ‖ p) of diagonal Gaussians."""
    prior_var = 0.5
    m = tiny(flows=0, prior_var=prior_var)
    q = Normal(m.scale_loc, m.scale_log_std.exp())
    p = Normal(torch.zeros_like(m.scale_loc), math.sqrt(prior_var))
    g, log_q = m.scales(m.noise(20000, torch.Generator().manual_seed(2)))
    estimate = m.kl_estimate(g, log_q)
    torch.testing.assert_close(estimate, q.log_prob(g).sum(1) - p.log_prob(g).sum(1))
    closed = kl_divergence(q, p).sum()
    assert abs(estimate.mean() - closed) < 4 * estimate.std() / math.sqrt(len(estimate))


def test_kl_with_a_flow_subtracts_the_log_determinant_of_the_whole_map():
    """With coupling layers (the default): log q(g) = log N(ε) − log|det ∂g/∂ε| for the whole
    map ε → loc + e^s ⊙ flow(ε), the determinant from autograd's Jacobian. (The test above,
    without a flow, passed with its sign flipped.)"""
    prior_var = 0.5
    m = tiny(prior_var=prior_var)
    eps = m.noise(3, torch.Generator().manual_seed(1))
    g, log_q = m.scales(eps)
    estimate = m.kl_estimate(g, log_q)
    zero = torch.tensor(0.0, dtype=torch.float64)
    standard, prior = Normal(zero, zero + 1.0), Normal(zero, zero + math.sqrt(prior_var))
    for i in range(3):
        jac = torch.autograd.functional.jacobian(
            lambda e: m.scale_loc + m.scale_log_std.exp() * m.flow(e[None])[0][0], eps[i])
        naive = (standard.log_prob(eps[i]).sum() - torch.linalg.slogdet(jac)[1]
                 - prior.log_prob(g[i]).sum())
        torch.testing.assert_close(estimate[i], naive, rtol=1e-12, atol=1e-12)


def test_loss_is_nll_plus_kl_per_training_example():
    m = tiny()
    x, y = torch.randn(2, 6, 2, 4, 4, dtype=torch.float64), torch.randint(5, (2, 6))
    out = m.training_loss(x, y, 0, generator=torch.Generator().manual_seed(3))
    g, log_q = m.scales(m.noise(2, torch.Generator().manual_seed(3)))
    nll = nn.functional.cross_entropy(m.target(m.weights(g), x).flatten(0, 1), y.flatten())
    torch.testing.assert_close(out["loss"], nll + m.kl_estimate(g, log_q).mean() / 100)


def test_a_new_hypernetwork_starts_near_the_module_initialisation():
    torch.manual_seed(0)
    m = build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "bhn", "dataset_size": 10})
    w = m.sample(64)
    norms = w["0.weight"].flatten(2).norm(dim=2)  # (N, filters)
    torch.testing.assert_close(norms.mean(0), m.scale_loc[:16].detach(), atol=0.03, rtol=0)
    assert 0.03 < norms.std(0).mean() < 0.07  # init_std 0.05


def test_config_errors():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    with pytest.raises(ConfigError, match="'method.flows' = -1 must be at least 0"):
        build_method(target, {"name": "bhn", "flows": -1})
    with pytest.raises(ConfigError, match="'method.init_std' = 0(.0)? must be above 0"):
        build_method(target, {"name": "bhn", "init_std": 0})
    m = build_method(target, {"name": "bhn"})
    with pytest.raises(ConfigError, match="method.dataset_size is not set"):
        m.training_loss(torch.zeros(1, 2, 1, 8, 8), torch.zeros(1, 2, dtype=torch.long), 0)


def test_short_training_beats_chance_and_samples_differ(tmp_path):
    last = train(load_config(None, ["method.name=bhn", "train.steps=150", "train.lr=0.003",
                                    "train.noise_batch=8", "train.val_every=150", "train.val_networks=8"]),
                 tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1
    assert last["val_std_accuracy"] > 0

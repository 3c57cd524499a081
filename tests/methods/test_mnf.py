import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from hyperzoo.config import ConfigError, load_config
from hyperzoo.methods import MNF, MNFConfig, build_method
from hyperzoo.session import build_session
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train


def tiny(**kwargs) -> MNF:
    """conv 2→3 (z per filter) and linear 48→5 (z per input unit), float64."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5))
    method = MNF(TargetNet(module.double(), (2, 4, 4)), MNFConfig(flow_hidden=6, dataset_size=100, **kwargs))
    method.double()
    # Move every parameter off its initial value (z's mean 1, zeroed flow outputs, equal
    # variances) so the checks below see a generic posterior.
    for p in method.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    return method


def coupling_params(d: int, k: int, h: int) -> int:
    return k * (2 if d == 1 else d * h + h + h * 2 * d + 2 * d)


def test_sample_shapes_and_parameter_count():
    m = tiny()
    w = m.sample(7, generator=torch.Generator().manual_seed(0))
    assert {k: tuple(v.shape) for k, v in w.items()} == {
        k: (7, *s) for k, s in m.target.param_shapes.items()}
    # Per layer: mean and log-variance of every weight and bias, z₀'s mean and log-variance,
    # r's c, b1, b2 (one per z entry), and the two flows (r's conditioner twice as wide).
    expected = 0
    for n_weights, d in [(3 * 2 * 9 + 3, 3), (5 * 48 + 5, 48)]:
        expected += 2 * n_weights + 5 * d + coupling_params(d, 2, 6) + coupling_params(d, 2, 12)
    assert sum(p.numel() for p in m.parameters()) == expected


def test_a_sample_is_z_times_the_mean_plus_gaussian_noise_per_network():
    """The batched draw equals each network computed on its own: z from the flow on that
    network's base noise alone, W = z ⊙ μ + σ ε with z per conv filter / linear input unit."""
    m = tiny()
    n = 4
    weights, kl = m.draw(n, generator=torch.Generator().manual_seed(1))
    sampled = m.sample(n, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(weights[k], sampled[k]) for k in weights)
    z_eps, w_eps = m._noise(n, torch.Generator().manual_seed(1))
    conv, lin = m.layers
    std_c, std_l = (0.5 * conv.weight_log_var).exp(), (0.5 * lin.weight_log_var).exp()
    for i in range(n):
        z_c = conv.flow_q((conv.z_mean + (0.5 * conv.z_log_var).exp() * z_eps[0][i])[None])[0][0]
        expected_w = z_c.view(3, 1, 1, 1) * conv.weight_mean + std_c * w_eps[0]["0.weight"][i]
        expected_b = z_c * conv.bias_mean + (0.5 * conv.bias_log_var).exp() * w_eps[0]["0.bias"][i]
        torch.testing.assert_close(weights["0.weight"][i], expected_w)
        torch.testing.assert_close(weights["0.bias"][i], expected_b)
        z_l = lin.flow_q((lin.z_mean + (0.5 * lin.z_log_var).exp() * z_eps[1][i])[None])[0][0]
        expected_w = z_l.view(1, 48) * lin.weight_mean + std_l * w_eps[1]["3.weight"][i]
        expected_b = lin.bias_mean + (0.5 * lin.bias_log_var).exp() * w_eps[1]["3.bias"][i]  # not scaled by z
        torch.testing.assert_close(weights["3.weight"][i], expected_w)
        torch.testing.assert_close(weights["3.bias"][i], expected_b)
    assert kl.shape == (n,)


def test_kl_terms_with_identity_flows_are_those_of_diagonal_gaussians():
    """No coupling layers: q(z) and r(z|W) are diagonal Gaussians and KL(q(W|z) ‖ p) is the KL
    of diagonal Gaussians; the draw's KL estimate is Σ_layers KL + log q(z) − log r(z|W)."""
    prior_var = 0.7
    m = tiny(flows_q=0, flows_r=0, prior_var=prior_var)
    n = 3
    weights, kl = m.draw(n, generator=torch.Generator().manual_seed(2))
    z_eps, _ = m._noise(n, torch.Generator().manual_seed(2))
    prior = Normal(0.0, math.sqrt(prior_var))
    for i in range(n):
        total = 0.0
        for layer, eps, name, bias in zip(m.layers, z_eps, ["0", "3"], ["0.bias", "3.bias"], strict=True):
            std_z = (0.5 * layer.z_log_var).exp()
            z = layer.z_mean + std_z * eps[i]
            log_q = Normal(layer.z_mean, std_z).log_prob(z).sum()
            w, b = weights[f"{name}.weight"][i], weights[bias][i]
            if name == "0":  # conv: z per filter, scaling the filter and its bias
                mean_w, mean_b = z.view(3, 1, 1, 1) * layer.weight_mean, z * layer.bias_mean
                rows = torch.cat([w.flatten(1), b[:, None]], 1)  # (filters, fan_in + 1)
            else:  # linear: z per input unit; the bias is not scaled
                mean_w, mean_b = z * layer.weight_mean, layer.bias_mean
                rows = w.T  # (inputs, outputs)
            kl_w = (kl_divergence(Normal(mean_w, (0.5 * layer.weight_log_var).exp()), prior).sum()
                    + kl_divergence(Normal(mean_b, (0.5 * layer.bias_log_var).exp()), prior).sum())
            a = torch.tanh(layer.r_c @ rows).mean()
            log_r = Normal(layer.r_b1 * a, (-0.5 * layer.r_b2 * a).exp()).log_prob(z).sum()
            total = total + kl_w + log_q - log_r
        torch.testing.assert_close(kl[i], total)


def _log_abs_det(flow, v: torch.Tensor) -> torch.Tensor:
    """log |det ∂flow(v)/∂v| of one vector ``v``, from autograd's full Jacobian."""
    return torch.linalg.slogdet(torch.autograd.functional.jacobian(lambda u: flow(u[None])[0][0], v))[1]


def test_kl_terms_with_flows_take_each_log_determinant_with_its_sign():
    """With coupling layers (the default): log q(z) = log N(z₀) − log|det ∂f/∂z₀| and
    log r(z|W) = log N(g(z)) + log|det ∂g/∂z|, the determinants from autograd's Jacobians.
    (The test above, without flows, passed with either sign flipped.)"""
    prior_var = 0.7
    m = tiny(prior_var=prior_var)
    n = 3
    weights, kl = m.draw(n, generator=torch.Generator().manual_seed(2))
    z_eps, _ = m._noise(n, torch.Generator().manual_seed(2))
    prior = Normal(0.0, math.sqrt(prior_var))
    for i in range(n):
        total = 0.0
        for layer, eps, name in zip(m.layers, z_eps, ["0", "3"], strict=True):
            std_z = (0.5 * layer.z_log_var).exp()
            z0 = layer.z_mean + std_z * eps[i]
            z = layer.flow_q(z0[None])[0][0]
            log_q = Normal(layer.z_mean, std_z).log_prob(z0).sum() - _log_abs_det(layer.flow_q, z0)
            w, b = weights[f"{name}.weight"][i], weights[f"{name}.bias"][i]
            if name == "0":
                mean_w, mean_b = z.view(3, 1, 1, 1) * layer.weight_mean, z * layer.bias_mean
                rows = torch.cat([w.flatten(1), b[:, None]], 1)
            else:
                mean_w, mean_b = z * layer.weight_mean, layer.bias_mean
                rows = w.T
            kl_w = (kl_divergence(Normal(mean_w, (0.5 * layer.weight_log_var).exp()), prior).sum()
                    + kl_divergence(Normal(mean_b, (0.5 * layer.bias_log_var).exp()), prior).sum())
            a = torch.tanh(layer.r_c @ rows).mean()
            g = layer.flow_r(z[None])[0][0]
            log_r = (Normal(layer.r_b1 * a, (-0.5 * layer.r_b2 * a).exp()).log_prob(g).sum()
                     + _log_abs_det(layer.flow_r, z))
            total = total + kl_w + log_q - log_r
        # The weights' KL dwarfs the determinants (~1e5 against ~1): a flipped sign moves the
        # total by ~1e-6 of itself, float64 rounding by ~1e-15.
        torch.testing.assert_close(kl[i], total, rtol=1e-12, atol=0.0)


def test_loss_is_nll_plus_kl_per_training_example():
    m = tiny()
    x, y = torch.randn(2, 6, 2, 4, 4, dtype=torch.float64), torch.randint(5, (2, 6))
    out = m.training_loss(x, y, 0, generator=torch.Generator().manual_seed(3))
    weights, kl = m.draw(2, generator=torch.Generator().manual_seed(3))
    nll = nn.functional.cross_entropy(m.target(weights, x).flatten(0, 1), y.flatten())
    torch.testing.assert_close(out["loss"], nll + kl.mean() / 100)


def test_dataset_size_comes_from_the_training_split():
    s = build_session(load_config(None, ["method.name=mnf"]))
    assert s.method.config.dataset_size == len(s.train_data)
    s = build_session(load_config(None, ["method.name=mnf", "method.dataset_size=60000"]))
    assert s.method.config.dataset_size == 60000


def test_the_bounds_dataset_size_is_recorded_in_the_run(tmp_path):
    """config.yaml said dataset_size: null, and a resume recounted N from whatever data it
    loaded: the KL's weight could change mid-run without a word."""
    import yaml

    from hyperzoo.train import train
    from tests.helpers import TINY, TINY_METHODS

    torch.set_num_threads(1)
    # (It set data.val_fraction=0.5, which the digits set ignored: it refuses it now.)
    cfg = load_config(None, [*[s for s in TINY if not s.startswith("method.")], *TINY_METHODS["mnf"]])
    train(cfg, tmp_path / "run", progress=False)
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["method"]["dataset_size"]
    assert recorded == len(build_session(cfg).train_data)


def test_config_errors():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    with pytest.raises(ConfigError, match="'method.flows_q' = -1 must be at least 0"):
        build_method(target, {"name": "mnf", "flows_q": -1})
    with pytest.raises(ConfigError, match="'method.dataset_size' = 0 must be at least 1"):
        build_method(target, {"name": "mnf", "dataset_size": 0})
    m = build_method(target, {"name": "mnf"})  # built by hand: no data, no size
    with pytest.raises(ConfigError, match="method.dataset_size is not set"):
        m.training_loss(torch.zeros(1, 2, 1, 8, 8), torch.zeros(1, 2, dtype=torch.long), 0)


def test_short_training_beats_chance_and_samples_differ(tmp_path):
    last = train(load_config(None, ["method.name=mnf", "train.steps=100", "train.lr=0.003",
                                    "train.noise_batch=8", "train.val_every=100", "train.val_networks=8"]),
                 tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1
    assert last["val_std_accuracy"] > 0

import math

import numpy as np
import pytest
import torch

from hyperzoo.config import ConfigError
from hyperzoo.methods import DeutschHypernetwork, build_method
from hyperzoo.methods.mlp import EqualizedLinear
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DeutschMNIST, DigitsNet

PAPER = {"name": "deutsch", "generator_hidden": [[40, 40], [100, 100], [100, 100], [60, 60]]}


def paper_method() -> DeutschHypernetwork:
    return build_method(TargetNet(DeutschMNIST(), (1, 28, 28)), PAPER)


def test_paper_parameter_count():
    m = paper_method()
    assert sum(p.numel() for p in m.parameters()) == 633_640
    bn = sum(p.numel() for name, p in m.named_parameters() if p.dim() == 1)
    assert bn == 2_400
    assert [g[-1].weight.shape[0] for g in m.generators] == [26, 801, 785, 90]
    assert m.extractor[-1].weight.shape == (855, 300)


def test_sample_shapes_and_he_scale():
    m = paper_method()
    g = torch.Generator().manual_seed(0)
    w = m.sample(8, generator=g)
    assert {k: tuple(v.shape[1:]) for k, v in w.items()} == m.target.param_shapes
    assert all(v.shape[0] == 8 for v in w.values())
    # Equalized output layers start the generated weights near He scale of each layer.
    for layer in m.target.layers:
        he = math.sqrt(2 / layer.fan_in)
        assert 0.3 * he < w[layer.weight].std().item() < 2 * he


def test_sampling_is_reproducible_with_a_generator():
    m = paper_method().eval()
    a = m.sample(3, generator=torch.Generator().manual_seed(5))
    b = m.sample(3, generator=torch.Generator().manual_seed(5))
    for k in a:
        assert torch.equal(a[k], b[k])


def test_eval_mode_networks_do_not_depend_on_batch_companions():
    m = paper_method().eval()
    z = m.noise(4, torch.Generator().manual_seed(1))
    torch.testing.assert_close(m.generate(z)["9.bias"][:2], m.generate(z[:2])["9.bias"])


@pytest.mark.parametrize("diversity", ["weights", "weights_relaxed", "outputs", "none"])
def test_loss_variants_are_finite_and_differentiable(diversity):
    target = TargetNet(DigitsNet(), (1, 8, 8))
    m = build_method(target, {"name": "deutsch", "z_dim": 6, "extractor_hidden": [12],
                              "diversity": diversity, "metric": "l1", "probe_size": 4})
    x, y = torch.rand(4, 5, 1, 8, 8), torch.randint(10, (4, 5))
    out = m.training_loss(x, y, step=0, generator=torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert ("entropy" in out) == (diversity != "none")
    assert ("gauge_penalty" in out) == (diversity == "weights_relaxed")
    assert all(p.grad is not None for p in m.generators.parameters())


def test_equalized_layer_scales_output_not_parameters():
    layer = EqualizedLinear(100, 50, gain=0.1, generator=torch.Generator().manual_seed(0))
    assert abs(layer.weight.std().item() - 0.1) < 0.01  # unit scale: 1/sqrt(100)
    x = torch.randn(2000, 100)
    assert abs(layer(x).std().item() - 0.1) < 0.01


def test_lambda_warmup():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    m = build_method(target, {"name": "deutsch", "lam": 1e3, "lam_start": 1e5,
                              "lam_warmup_steps": 100})
    assert m.lam_at(0) == pytest.approx(1e5)
    assert m.lam_at(50) == pytest.approx(1e4)
    assert m.lam_at(100) == m.lam_at(10_000) == pytest.approx(1e3)


@pytest.mark.parametrize(("settings", "message"), [
    ({"name": "nope"}, "unknown method 'nope'"),
    ({"name": "deutsch", "diversity": "colour"}, "'method.diversity' = 'colour' is not one of"),
    ({"name": "deutsch", "z_dims": 3}, "unknown config key 'method.z_dims'"),
    ({"name": "deutsch", "generator_hidden": [[4], [4]]}, "has 2 entries; the target has 4"),
])
def test_bad_method_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), settings)


def test_ensemble_loss_is_the_cross_entropy_of_the_mean_prediction():
    torch.manual_seed(0)
    target = TargetNet(DigitsNet(), (1, 8, 8))
    m = build_method(target, {"name": "deutsch", "z_dim": 6, "extractor_hidden": [12],
                              "diversity": "none", "ensemble_loss": 1.0, "lam": 1.0}).eval()
    x, y = torch.rand(3, 5, 1, 8, 8), torch.randint(10, (3, 5))
    out = m.training_loss(x, y, step=0, generator=torch.Generator().manual_seed(0))
    w = m.sample(3, generator=torch.Generator().manual_seed(0))
    mean_prob = torch.stack([target({k: v[i:i + 1] for k, v in w.items()}, x[0])[0].softmax(-1)
                             for i in range(3)]).mean(0)
    expected = -mean_prob[torch.arange(5), y[0]].log().mean()
    torch.testing.assert_close(out["loss"], expected)
    torch.testing.assert_close(out["ensemble_cross_entropy"], expected)


def _digamma(v: float) -> float:
    return torch.special.digamma(torch.tensor(float(v), dtype=torch.float64)).item()


def _one_loss_of_a_4_3_2_net(n: int, z_dim: int, **method):
    """One training loss of the Deutsch method (``method`` settings) on a 4-3-2 ReLU target, N =
    ``n`` networks of 3 random inputs each, and what it saw as float64 NumPy: the generated
    weights (w1, b1, w2, b2), the inputs (n, 3, 4) and labels (n, 3)."""
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    m = build_method(TargetNet(module, (4,)), {"name": "deutsch", "z_dim": z_dim, "extractor_hidden": [8],
                                               **method})
    x, y = torch.randn(n, 3, 4), torch.randint(2, (n, 3))
    out = m.training_loss(x, y, step=0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = m.generate(m.noise(n, torch.Generator().manual_seed(0)))
    weights = tuple(w[k].double().numpy() for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
    return out, weights, x.double().numpy(), y.numpy()


@pytest.mark.parametrize("diversity", ["weights", "weights_relaxed"])
def test_loss_equals_an_independent_computation(diversity):
    """λ·CE − Ĥ(gauge(w)) with d = z_dim (and + γ·G for the relaxed gauge), recomputed by hand in
    float64 with NumPy from the generated weights of a 4-3-2 ReLU network."""
    lam, gamma, z_dim, n = 7.0, 0.5, 5, 6
    out, (w1, b1, w2, b2), xs, ys = _one_loss_of_a_4_3_2_net(n, z_dim, lam=lam, gamma=gamma,
                                                             diversity=diversity)
    ce = []
    for i in range(n):
        logits = np.maximum(xs[i] @ w1[i].T + b1[i], 0) @ w2[i].T + b2[i]  # (3, 2)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        ce += [-logp[j, ys[i, j]] for j in range(3)]
    ce = np.mean(ce)
    sq = (w1 ** 2).sum(2) + b1 ** 2  # (n, 3): squared norm of each first-layer filter
    if diversity == "weights":
        s = np.sqrt(sq / 5)  # filter size 4 weights + 1 bias
        g1, gb1, g2 = w1 / s[:, :, None], b1 / s, w2 * s[:, None, :]
        gb2 = b2 - b2.mean(1, keepdims=True)
        v = np.concatenate([g1.reshape(n, -1), gb1, g2.reshape(n, -1), gb2], 1)
    else:
        v = np.concatenate([w1.reshape(n, -1), b1, w2.reshape(n, -1), b2], 1)
    dist = np.sqrt(((v[:, None] - v[None]) ** 2).sum(-1)) + np.diag(np.full(n, np.inf))
    entropy = _digamma(n) + z_dim * np.log(dist.min(1)).mean()
    expected = lam * ce - entropy
    if diversity == "weights_relaxed":
        penalty = ((sq - 5) ** 2).sum(1) + b2.sum(1) ** 2
        expected += gamma * penalty.mean()
        assert out["gauge_penalty"].item() == pytest.approx(penalty.mean(), rel=1e-4)
    assert out["cross_entropy"].item() == pytest.approx(ce, rel=1e-5)
    assert out["entropy"].item() == pytest.approx(entropy, rel=1e-4, abs=1e-4)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-4, abs=1e-4)


def _auto_method(**settings) -> DeutschHypernetwork:
    torch.manual_seed(0)
    target = TargetNet(DigitsNet(), (1, 8, 8))
    return build_method(target, {"name": "deutsch", "z_dim": 8, "extractor_hidden": [16],
                                 "generator_hidden": [16], "lam": "auto", **settings})


def test_probed_lam_is_finite_positive_deterministic_and_leaves_the_method_as_it_was():
    m = _auto_method()
    x, y = torch.rand(4, 6, 1, 8, 8), torch.randint(10, (4, 6))
    before = {k: v.clone() for k, v in m.state_dict().items()}  # batch-norm buffers included
    rng = torch.get_rng_state()
    lam = m.probe_lam(x, y, torch.Generator().manual_seed(3))
    assert math.isfinite(lam) and lam > 0
    assert lam == float(f"{lam:.2g}")  # two significant digits: a readable config.yaml
    assert lam == m.probe_lam(x, y, torch.Generator().manual_seed(3))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert all(p.grad is None for p in m.parameters())
    assert torch.equal(rng, torch.get_rng_state())
    # calibrate resolves the config once; a number is left alone.
    assert m.calibrate(x, y, torch.Generator().manual_seed(3)) == {"lam": lam}
    assert m.config.lam == lam and m.lam_at(0) == lam
    assert m.calibrate(x, y, torch.Generator().manual_seed(3)) == {}


@pytest.mark.parametrize("settings, message", [
    ({"lam": "often"}, "positive number or 'auto'"),
    ({"lam": "auto", "diversity": "outputs"}, "calibrated for method.diversity 'weights' only"),
    ({"lam": "auto", "diversity": "none"}, "calibrated for method.diversity 'weights' only"),
])
def test_bad_auto_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        _auto_method(**settings)


def test_unresolved_auto_lam_is_a_clear_error():
    with pytest.raises(ValueError, match="not yet resolved"):
        _auto_method().lam_at(0)


def test_code_share_starts_filters_as_one_shared_filter_plus_a_code_part():
    """method.code_share c: each generator's output layer has a learned bias (one shared filter
    per layer, at He scale) and the code-dependent part holds about c of the spread; null (the
    paper's) adds no parameter."""
    from hyperzoo.targets.zoo import DigitsNet

    target = TargetNet(DigitsNet(), (1, 8, 8))
    plain = build_method(target, {"name": "deutsch", "z_dim": 16})
    torch.manual_seed(0)
    shared = build_method(target, {"name": "deutsch", "z_dim": 16, "code_share": 0.3})
    count = sum(p.numel() for p in shared.parameters()) - sum(p.numel() for p in plain.parameters())
    assert count == sum(g[-1].weight.shape[0] for g in plain.generators)  # one bias per output
    with torch.no_grad():  # train mode: batch statistics, as training sees the generators
        w = shared.train().sample(256, generator=torch.Generator().manual_seed(0))
    for layer in target.layers:
        v = w[layer.weight]
        total, across = v.std().item(), v.std(0).mean().item()  # across networks, per weight
        assert 0.05 < across / total < 0.5, layer.name  # the shared part holds most of it
        assert 0.3 < total / math.sqrt(2 / layer.fan_in) < 2.5
    with pytest.raises(ConfigError, match="code_share"):
        build_method(target, {"name": "deutsch", "code_share": 0.0})


def test_an_explicit_probe_is_the_default_one_and_replaces_it():
    """``probe`` (the trainer's, under torchrun) is what the loss would cut from ``x`` in one process."""
    target = TargetNet(DigitsNet(), (1, 8, 8))
    m = build_method(target, {"name": "deutsch", "z_dim": 6, "extractor_hidden": [12],
                              "diversity": "outputs", "probe_size": 3}).eval()
    assert m.probe_size == 3
    assert build_method(target, {"name": "deutsch", "z_dim": 6}).probe_size == 0
    x, y = torch.rand(4, 5, 1, 8, 8), torch.randint(10, (4, 5))

    def entropy(**probe):
        return m.training_loss(x, y, 0, torch.Generator().manual_seed(0), **probe)["entropy"]
    assert torch.equal(entropy(), entropy(probe=x[0, :3]))
    assert not torch.equal(entropy(), entropy(probe=x[1, :3]))


def test_the_output_entropy_leaves_the_targets_own_dropout_out():
    """Each network's dropout mask differed, and counted as diversity the generator has no part
    in: the entropy changed with the global seed. The accuracy term keeps the dropout."""
    from torch import nn

    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 10))
    m = build_method(TargetNet(module, (1, 8, 8)), {"name": "deutsch", "z_dim": 6, "extractor_hidden": [12],
                                                    "diversity": "outputs", "probe_size": 4}).train()
    x, y = torch.rand(4, 5, 1, 8, 8), torch.randint(10, (4, 5))

    def terms(seed):
        torch.manual_seed(seed)
        return m.training_loss(x, y, 0, torch.Generator().manual_seed(0))
    a, b = terms(0), terms(1)
    assert torch.equal(a["entropy"], b["entropy"])
    assert not torch.equal(a["cross_entropy"], b["cross_entropy"])
    assert module[3].training


def test_output_space_loss_equals_an_independent_computation():
    """λ·CE − [ψ(N) + z_dim · mean log ε] of the softmax outputs on the probe (x[0, :P]),
    each network's (P, C) probabilities flattened, recomputed in float64 NumPy. (The loss's sign,
    logits for probabilities and the output dimension for z_dim all passed before.)"""
    lam, z_dim, n, probe = 7.0, 5, 6, 2
    out, (w1, b1, w2, b2), xs, ys = _one_loss_of_a_4_3_2_net(n, z_dim, lam=lam, diversity="outputs",
                                                             probe_size=probe)

    def logits(i, inputs):
        return np.maximum(inputs @ w1[i].T + b1[i], 0) @ w2[i].T + b2[i]

    def softmax(v):
        e = np.exp(v - v.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    ce = np.mean([-np.log(softmax(logits(i, xs[i]))[j, ys[i, j]]) for i in range(n) for j in range(3)])
    v = np.stack([softmax(logits(i, xs[0, :probe])).reshape(-1) for i in range(n)])  # (n, P·C)
    dist = np.sqrt(((v[:, None] - v[None]) ** 2).sum(-1)) + np.diag(np.full(n, np.inf))
    entropy = _digamma(n) + z_dim * np.log(dist.min(1)).mean()
    assert out["entropy"].item() == pytest.approx(entropy, rel=1e-4, abs=1e-4)
    assert out["loss"].item() == pytest.approx(lam * ce - entropy, rel=1e-4, abs=1e-4)

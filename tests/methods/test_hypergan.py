import numpy as np
import pytest
import torch

from hyperzoo.devices import normal
from hyperzoo.errors import ConfigError
from hyperzoo.methods import HyperGAN, build_method
from hyperzoo.methods.hypergan import moment_mismatch
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet, HyperGANMNIST


def linear_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def test_paper_mnist_shapes_and_parameter_count():
    target = TargetNet(HyperGANMNIST(), (1, 28, 28))
    m = build_method(target, {"name": "hypergan"})
    w = m.sample(3, generator=torch.Generator().manual_seed(0))
    assert {k: tuple(v.shape) for k, v in w.items()} == {
        k: (3, *s) for k, s in target.param_shapes.items()}
    # Mixer 256→512→512→3·128, generators 128→512→512→layer (equalized output with bias),
    # discriminator 128→512→512→1.
    mixer = linear_params([256, 512, 512, 384])
    gens = sum(linear_params([128, 512, 512]) + 513 * n for n in (800, 25600, 5120))
    disc = linear_params([128, 512, 512, 1])
    assert sum(p.numel() for p in m.parameters()) == mixer + gens + disc
    groups = m.optimizer_groups()
    assert sum(p.numel() for p in groups["discriminator"]) == disc
    assert sum(p.numel() for p in groups["model"]) == mixer + gens


def tiny() -> HyperGAN:
    torch.manual_seed(0)
    target = TargetNet(DigitsNet(), (1, 8, 8))
    return build_method(target, {"name": "hypergan", "z_dim": 8, "code_size": 4,
                                 "mixer_hidden": [32], "generator_hidden": [32],
                                 "discriminator_hidden": [32], "pretrain_steps": 0})


def test_pretraining_matches_the_prior_moments():
    m = tiny()
    opt = torch.optim.Adam(m.mixer.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(200):
        loss = moment_mismatch(m.codes(m.noise(256, g)).reshape(-1, 4))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_discriminator_and_generator_losses_move_the_right_way():
    m = tiny()
    x, y = torch.rand(8, 4, 1, 8, 8), torch.randint(10, (8, 4))
    g = torch.Generator().manual_seed(0)
    d_opt = torch.optim.Adam(m.discriminator.parameters(), lr=1e-2)
    d_before = m.training_loss(x, y, 0, g)["discriminator"].item()
    for _ in range(60):  # train only the discriminator
        out = m.training_loss(x, y, 0, g)
        d_opt.zero_grad()
        out["loss_discriminator"].backward()
        d_opt.step()
    d_after = m.training_loss(x, y, 0, g)["discriminator"].item()
    assert d_after < d_before
    m_opt = torch.optim.Adam(m.mixer.parameters(), lr=1e-2)
    fool_before = m.training_loss(x, y, 0, g)["generator_adversarial"].item()
    for _ in range(60):  # then only the mixer, against the fixed discriminator
        out = m.training_loss(x, y, 0, g)
        m_opt.zero_grad()
        out["loss"].backward()
        m_opt.step()
    assert m.training_loss(x, y, 0, g)["generator_adversarial"].item() < fool_before


def test_regression_task_and_bad_task():
    m = build_method(TargetNet(torch.nn.Sequential(torch.nn.Linear(1, 100), torch.nn.ReLU(),
                                                   torch.nn.Linear(100, 1)), (1,)),
                     {"name": "hypergan", "z_dim": 8, "code_size": 4, "mixer_hidden": [16],
                      "generator_hidden": [16], "discriminator_hidden": [16],
                      "task": "regression", "pretrain_steps": 0})
    out = m.training_loss(torch.randn(4, 5, 1), torch.randn(4, 5), 0)
    assert "mse" in out and torch.isfinite(out["loss"])
    with pytest.raises(ConfigError, match="'method.task' = 'ranking' is not one of"):
        build_method(m.target, {"name": "hypergan", "task": "ranking"})


def regression_method(**extra):
    return build_method(TargetNet(torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.ReLU(),
                                                      torch.nn.Linear(8, 1)), (1,)),
                        {"name": "hypergan", "z_dim": 8, "code_size": 4, "mixer_hidden": [16],
                         "generator_hidden": [16], "discriminator_hidden": [16],
                         "task": "regression", "pretrain_steps": 0, **extra})


def test_a_batch_of_equal_regression_targets_is_weighed_by_the_recorded_variance():
    """Divided by its own variance, 0, the squared error was 10¹² times too large (whole-number
    targets in a small batch), and that step's gradient stalled Adam for thousands of steps."""
    m = regression_method()
    x, y = torch.randn(2, 4, 1), torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    assert m.calibrate(x, y) == {"target_variance": pytest.approx(float(y.double().var()))}
    m.config.target_variance = 2.0
    assert m.calibrate(x, y) == {}  # given: kept
    for y, variance in ((torch.full((2, 4), 3.0), 0.02), (torch.arange(8.0).view(2, 4), 6.0)):
        # Equal targets: 1% of the recorded variance; others: their own variance, as before.
        out = m.training_loss(x, y, 5, torch.Generator().manual_seed(1))
        expected = out["mse"] / variance + m.config.beta * out["generator_adversarial"]
        assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_variance_is_the_training_sets_where_given():
    """A first batch of equal whole numbers was refused though the data set's targets vary."""
    targets = torch.arange(10.0)
    got = regression_method().calibrate(torch.randn(2, 4, 1), torch.full((2, 4), 3.0), targets=targets)
    assert got == {"target_variance": pytest.approx(float(targets.double().var()))}


def test_constant_regression_targets_are_refused_at_the_start():
    with pytest.raises(ConfigError, match=r"targets are all equal \(3\)"):
        regression_method().calibrate(torch.randn(2, 4, 1), torch.full((2, 4), 3.0))
    with pytest.raises(ConfigError, match="method.target_variance must be positive"):
        regression_method(target_variance=0.0)


@pytest.mark.parametrize("share", [0.3, 1.0])
def test_code_share_sets_how_much_of_the_initial_weights_depends_on_the_code(share):
    torch.manual_seed(0)
    target = TargetNet(DigitsNet(), (1, 8, 8))
    m = build_method(target, {"name": "hypergan", "code_share": share, "pretrain_steps": 0}).eval()
    with torch.no_grad():
        w = m.sample(256, generator=torch.Generator().manual_seed(1))
    for name, v in w.items():
        spread = v.std(0).pow(2).mean()  # variance across codes
        total = v.pow(2).mean()
        if share == 1.0:
            assert spread / total > 0.5, name
        else:
            assert spread / total < 0.3, name


def test_code_share_out_of_range_is_rejected():
    with pytest.raises(ConfigError, match="code_share"):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "hypergan", "code_share": 0})


def test_pretraining_leaves_the_discriminator_and_its_adam_untouched():
    """During pre-training the discriminator has nothing to learn: no step, so its Adam's first
    real step is a first step (|Δθ| = lr for every parameter with a gradient), not one that
    counts the pre-training's zero gradients and moves up to ~2.5 times further."""
    from hyperzoo.optimizers import make_optimizer
    from hyperzoo.train import step_optimizers

    torch.manual_seed(0)
    m = build_method(TargetNet(DigitsNet(), (1, 8, 8)),
                     {"name": "hypergan", "z_dim": 8, "code_size": 4, "mixer_hidden": [16],
                      "generator_hidden": [16], "discriminator_hidden": [16], "pretrain_steps": 3,
                      "pretrain_batch": 64})
    opts = {g: make_optimizer(p, "adam", 1e-3, None) for g, p in m.optimizer_groups().items()}
    x, y = torch.rand(4, 2, 1, 8, 8), torch.randint(10, (4, 2))
    g = torch.Generator().manual_seed(0)
    before = [p.detach().clone() for p in m.discriminator.parameters()]
    for step in range(3):
        assert step_optimizers(m, opts, m.training_loss(x, y, step, g)) is None
    assert all(torch.equal(a, b) for a, b in zip(before, m.discriminator.parameters(), strict=True))
    assert not opts["discriminator"].state
    step_optimizers(m, opts, m.training_loss(x, y, 3, g))
    moved = torch.cat([(p - b).abs().flatten() for p, b in zip(m.discriminator.parameters(), before,
                                                                strict=True)])
    torch.testing.assert_close(moved.max(), torch.tensor(1e-3), rtol=1e-3, atol=0)


def test_settings_that_cannot_train_are_one_line():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    for key, value, message in (("beta", float("nan"), "'method.beta' = nan must be a finite number"),
                                ("z_dim", 0, "'method.z_dim' = 0 must be at least 1"),
                                ("code_size", 0, "'method.code_size' = 0 must be at least 1"),
                                ("pretrain_batch", 1, "'method.pretrain_batch' = 1 must be at least 2")):
        with pytest.raises(ConfigError, match=message):
            build_method(target, {"name": "hypergan", key: value})
    m = build_method(target, {"name": "hypergan", "z_dim": 8, "code_size": 4, "mixer_hidden": [16],
                              "generator_hidden": [], "discriminator_hidden": [16]})
    assert all(v.shape[0] == 2 for v in m.sample(2).values())  # no hidden layer: code → weights
    with pytest.raises(ConfigError, match="train.steps = 100 ends within method.pretrain_steps = 100"):
        m.check_training(8, steps=100)
    m.check_training(8, steps=101)


def _hypergan():
    torch.manual_seed(0)
    from hyperzoo.targets.zoo import DigitsNet
    return build_method(TargetNet(DigitsNet(), (1, 8, 8)),
                        {"name": "hypergan", "z_dim": 8, "code_size": 4, "mixer_hidden": [32],
                         "generator_hidden": [32], "discriminator_hidden": [32], "pretrain_steps": 0})


def test_adversarial_terms_label_prior_samples_real_and_codes_fake():
    """fool = −mean log σ(D(q)); d_loss = −mean log(1 − σ(D(q))) − mean log σ(D(prior)), with
    the codes q and the prior draws replayed from the same generator, in float64. (Either
    label flipped passed before.)"""
    m = _hypergan()
    x, y = torch.rand(3, 2, 1, 8, 8), torch.randint(10, (3, 2))
    out = m.training_loss(x, y, 0, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        q = m.codes(m.noise(3, g)).reshape(-1, 4)
        prior = normal(tuple(q.shape), g, q.device, q.dtype)
        dq, dp = m.discriminator(q).double(), m.discriminator(prior).double()
    log_sig = torch.nn.functional.logsigmoid
    fool = -log_sig(dq).mean()
    d_loss = -log_sig(-dq).mean() - log_sig(dp).mean()
    assert (dq - dp).abs().max() > 0.01  # the labels matter: D tells them apart somewhat
    assert out["generator_adversarial"].item() == pytest.approx(fool.item(), rel=1e-5)
    assert out["discriminator"].item() == pytest.approx(d_loss.item(), rel=1e-5)


def test_moment_mismatch_equals_numpy():
    """‖mean‖² + ‖cov − I‖²_F with the unbiased (ddof=1) covariance, in float64."""
    codes = torch.randn(7, 3, dtype=torch.float64) * 1.7 + 0.5
    c = codes.numpy()
    expected = (c.mean(0) ** 2).sum() + ((np.cov(c, rowvar=False, ddof=1) - np.eye(3)) ** 2).sum()
    assert moment_mismatch(codes).item() == pytest.approx(expected, rel=1e-12)


def test_a_new_run_above_the_recipes_learning_rate_is_noted(tmp_path, capsys):
    """fit's default 1e-3 collapsed a user's HyperGAN regression to a constant, without a word."""
    from hyperzoo.config import load_config
    from hyperzoo.train import train

    sets = ["method.name=hypergan", "method.z_dim=8", "method.code_size=4", "method.mixer_hidden=[16]",
            "method.generator_hidden=[16]", "method.discriminator_hidden=[16]", "method.pretrain_steps=0",
            "train.steps=1", "train.noise_batch=4", "train.images_per_noise=8", "train.val_networks=2"]
    train(load_config(None, [*sets, "train.lr=0.001"]), tmp_path / "fast", argv=["x"], progress=False)
    assert "note: train.lr 0.001 is above 0.0003 for method 'hypergan'" in capsys.readouterr().err
    train(load_config(None, [*sets, "train.lr=0.0003"]), tmp_path / "recipe", argv=["x"], progress=False)
    assert "train.lr" not in capsys.readouterr().err

import pytest
import torch

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
    with pytest.raises(ConfigError, match="method.task 'ranking'"):
        build_method(m.target, {"name": "hypergan", "task": "ranking"})


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

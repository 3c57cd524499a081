import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.config import ConfigError, load_config
from hyperzoo.methods import EnsembleConfig, IndependentEnsemble, build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train


def tiny(**kwargs) -> IndependentEnsemble:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    return IndependentEnsemble(TargetNet(module, (4,)), EnsembleConfig(size=3, **kwargs)).double()


def test_members_have_independent_random_initialisations():
    m = build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "ensemble", "size": 5})
    w = m.sample(5)["0.weight"].flatten(1)  # (members, weights)
    corr = torch.corrcoef(w)
    assert (corr - torch.eye(5)).abs().max() < 0.3  # unrelated draws, not copies or shifts
    bound = 1 / 3  # PyTorch's conv init: U(±1/√fan_in), fan_in 9
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_adversarial_loss_is_clean_plus_fast_gradient_sign_loss_per_member():
    """Lakshminarayanan et al.: NLL(x) + NLL(x + ε sign ∇ₓNLL(x)) for each member, each
    member's gradient taken on its own, the perturbation held constant."""
    eps = 0.05
    m = tiny(adversarial_eps=eps)
    x, y = torch.randn(3, 8, 4, dtype=torch.float64), torch.randint(3, (3, 8))
    out = m.training_loss(x, y, 0)
    w = m.sample(3)
    total = 0.0
    for i in range(3):
        one = {k: v[i:i + 1] for k, v in w.items()}
        xi = x[i].clone().requires_grad_(True)
        ce = F.cross_entropy(m.target(one, xi)[0], y[i])
        grad, = torch.autograd.grad(ce, xi, retain_graph=True)
        total = total + ce + F.cross_entropy(m.target(one, (xi + eps * grad.sign()).detach())[0], y[i])
    torch.testing.assert_close(out["loss"], total)
    # The gradient treats the adversarial inputs as constants: that of the same sum.
    m.zero_grad()
    out["loss"].backward()
    grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    total.backward()
    for a, p in zip(grads, m.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad)


def test_without_eps_the_loss_is_the_summed_nll():
    m = tiny()
    x, y = torch.randn(3, 8, 4, dtype=torch.float64), torch.randint(3, (3, 8))
    out = m.training_loss(x, y, 0)
    logits = m.target(m.sample(3), x)
    torch.testing.assert_close(out["loss"], 3 * F.cross_entropy(logits.flatten(0, 1), y.flatten()))
    assert "adversarial_cross_entropy" not in out


def test_negative_eps_is_a_config_error():
    with pytest.raises(ConfigError, match="'method.adversarial_eps' = -0.1 must be at least 0"):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "ensemble", "adversarial_eps": -0.1})


def test_short_adversarial_training_beats_chance(tmp_path):
    last = train(load_config(None, ["method.name=ensemble", "method.size=4", "method.adversarial_eps=0.01",
                                    "train.steps=100", "train.lr=0.003", "train.noise_batch=4",
                                    "train.val_every=100", "train.val_networks=4"]),
                 tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1
    assert last["adversarial_cross_entropy"] > last["cross_entropy"]


def test_ensemble_sample_n_is_the_first_n_members():
    from hyperzoo.methods import EnsembleConfig, IndependentEnsemble
    torch.manual_seed(0)
    target = TargetNet(nn.Sequential(nn.Linear(4, 3)).double(), (4,))
    m = IndependentEnsemble(target, EnsembleConfig(size=3)).double()
    all3, two = m.sample(3), m.sample(2)
    for k in target.param_shapes:
        assert torch.equal(two[k], all3[k][:2])


def test_a_module_initialised_its_own_way_is_noted(capsys):
    """Members start from reset_parameters: a torchvision-style model's zero-initialised scales
    and fan-out convolutions were replaced without a word."""
    module = DigitsNet()
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    nn.init.kaiming_normal_(convs[-1].weight, mode="fan_out")
    nn.init.zeros_([m for m in module.modules() if isinstance(m, nn.Linear)][-1].weight)
    build_method(TargetNet(module, (1, 8, 8)), {"name": "ensemble", "size": 3}).check_training(3)
    err = capsys.readouterr().err
    assert "starts each member from its layers' reset_parameters" in err
    changed = err.split("differs for ")[1].split(":")[0]
    assert changed.split(", ") == [f"{[n for n, m in module.named_modules() if m is convs[-1]][0]}.weight",
                                   [n for n, _ in module.named_parameters()][-2]]
    torch.manual_seed(0)  # PyTorch's defaults, as reset_parameters draws them: nothing to say
    build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "ensemble", "size": 3}).check_training(3)
    assert capsys.readouterr().err == ""


def test_a_one_element_parameter_is_no_initialisation_of_ones_own(capsys):
    """A one-channel convolution's bias (an attention map) is one number: not 'constant'."""
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 1), nn.Flatten(), nn.Linear(36, 10))
    build_method(TargetNet(module, (1, 8, 8)), {"name": "ensemble", "size": 3}).check_training(3)
    assert capsys.readouterr().err == ""

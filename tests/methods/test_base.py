"""Where the baselines' networks start: the user's own initialisation, not PyTorch's defaults."""

import re

import torch
from torch import nn

from hyperzoo.methods import build_method
from hyperzoo.methods.base import fresh_parameters
from hyperzoo.targets import TargetNet


class ZeroHead(nn.Module):
    """A user's model that initialises itself its own way: a narrow first layer, batch-norm
    scales at 0, a zero head (in the constructor, and again in its own reset_parameters)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.head = nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(5, 3)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.fc1.weight, std=0.5)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.head.weight)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.fc1(x))))


def test_methods_of_one_network_start_from_the_module_as_it_is():
    torch.manual_seed(0)
    module = ZeroHead()
    own = dict(module.named_parameters())
    target = TargetNet(module, (6,))
    for name in ("mc_dropout", "mnf", "bhn"):
        weights = build_method(target, {"name": name, **({"p": 0.0} if name == "mc_dropout" else {})}
                               ).eval().sample(2, torch.Generator().manual_seed(0))
        assert torch.equal(weights["bn.weight"], torch.zeros(2, 5)), name  # the shared norm scale
        if name == "mc_dropout":  # no dropout: the network itself
            for key in ("fc1.weight", "head.weight"):
                assert torch.equal(weights[key], own[key].detach().expand_as(weights[key]))


def test_an_ensembles_members_are_reset_by_the_models_own_reset_parameters():
    """Children first, the container last: its reset_parameters has the last word."""
    torch.manual_seed(0)
    a, b = fresh_parameters(ZeroHead()), fresh_parameters(ZeroHead())
    assert torch.equal(a["head.weight"], torch.zeros(3, 5)) and torch.equal(a["bn.weight"], torch.zeros(5))
    assert 0.4 < a["fc1.weight"].std() < 0.6 and not torch.equal(a["fc1.weight"], b["fc1.weight"])
    # A plain Sequential draws exactly as before: leaves in order.
    torch.manual_seed(1)
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    torch.manual_seed(2)
    got = fresh_parameters(seq)
    torch.manual_seed(2)
    for m in seq:
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    assert all(torch.equal(got[k], v) for k, v in seq.state_dict().items())


def test_a_float64_module_trains_in_float32_like_the_data():
    """Its weights met float32 inputs: 'mat1 and mat2 must have the same dtype'."""
    module = ZeroHead().double()
    target = TargetNet(module, (6,))
    x = torch.randn(2, 3, 6)
    for name in ("mc_dropout", "mnf", "bhn", "ensemble", "static"):
        method = build_method(target, {"name": name, **({"size": 2} if name == "ensemble" else {})})
        assert all(p.dtype == torch.float32 for p in method.parameters()), name
        assert target(method.sample(2, torch.Generator().manual_seed(0)), x).dtype == torch.float32


def test_check_settings_is_check_training_without_a_built_method():
    """`hyperzoo config` asks each method what train would refuse without building a target (it
    built the whole model, imported a run folder's code and read data to ask)."""
    import pytest

    from hyperzoo.config import ConfigError, load_config
    from hyperzoo.methods import METHODS
    from hyperzoo.session import build_session
    from tests.helpers import TINY_METHODS, method_overrides

    for name in TINY_METHODS:
        config = load_config(None, method_overrides(name))
        method = build_session(config, with_data=False, device="cpu").method
        cls = METHODS[config.method_name][1]
        for noise_batch, steps in ((config.train.noise_batch, config.train.steps), (1, 1), (3, 5), (64, 2)):
            try:
                method.check_training(noise_batch, steps)
            except ConfigError as e:
                with pytest.raises(ConfigError, match=f"^{re.escape(str(e))}$"):
                    cls.check_settings(method.config, noise_batch, steps)
            else:
                cls.check_settings(method.config, noise_batch, steps)


def test_an_unset_noise_batch_is_what_each_method_trains_with():
    """``train.noise_batch`` left unset takes the method's own count (one network, the static
    hypernetwork's too: 1; an ensemble: its size; 32 elsewhere), which its own check then
    accepts: single-network baselines were refused with the default 32 until it was set by hand."""
    from hyperzoo.config import DEFAULT_NOISE_BATCH, load_config
    from hyperzoo.methods import METHODS, resolve_noise_batch
    from hyperzoo.methods.single import SingleNetwork

    for name, (config_cls, cls) in METHODS.items():
        config = load_config(None, [f"method.name={name}", "train.steps=5000"])
        assert config.train.noise_batch is None
        n = resolve_noise_batch(config)
        settings = config_cls(name=name)
        expected = (1 if issubclass(cls, SingleNetwork) or name == "static" else settings.size
                    if name == "ensemble" else DEFAULT_NOISE_BATCH)
        assert n == expected, name
        cls.check_settings(settings, n, config.train.steps)
    sized = load_config(None, ["method.name=ensemble", "method.size=3"])
    assert resolve_noise_batch(sized) == 3
    given = load_config(None, ["method.name=ensemble", "method.size=3", "train.noise_batch=5"])
    assert resolve_noise_batch(given) == 5  # the user's own, refused by the method's check


def test_network_i_is_the_same_whatever_the_number_drawn():
    """With one seed, ``sample(k)`` is the first k of ``sample(n)``: the export of 5 networks and
    an evaluation of 100 share their first 5 (MC dropout's masks, MNF's and the Gaussian noise's
    draws, one tensor after another, and torch.randn's blocks of 16 made them depend on n)."""
    import torch

    from hyperzoo.config import load_config
    from hyperzoo.session import build_session
    from tests.helpers import TINY_METHODS, method_overrides

    for name in TINY_METHODS:
        config = load_config(None, method_overrides(name))
        method = build_session(config, with_data=False, device="cpu").method
        method.eval()
        for k, n in ((1, 3), (2, 7)):
            if method.max_networks is not None and n > method.max_networks:
                continue
            with torch.no_grad():
                few = method.sample(k, torch.Generator().manual_seed(5))
                many = method.sample(n, torch.Generator().manual_seed(5))
            for key, w in few.items():
                torch.testing.assert_close(w, many[key][:k], rtol=1e-5, atol=1e-6, msg=f"{name} {key}")


def test_normal_draws_are_standard_normal_and_nested():
    import math

    import torch

    from hyperzoo.devices import normal

    z = normal((200_000,), torch.Generator().manual_seed(0), "cpu", torch.float64)
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
    # The share within one standard deviation, against the closed form erf(1/√2).
    assert abs((z.abs() < 1).double().mean().item() - math.erf(1 / math.sqrt(2))) < 0.005
    few = normal((3, 5), torch.Generator().manual_seed(1), "cpu")
    assert torch.equal(few, normal((40, 5), torch.Generator().manual_seed(1), "cpu")[:3])

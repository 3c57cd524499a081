import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.diagnostics import activity
from hyperzoo.runs import read_metrics
from hyperzoo.targets import TargetNet
from hyperzoo.targets.target_net import layer_labels
from hyperzoo.train import train
from tests.helpers import tiny_config


def mlp_target(backend: str = "loop") -> TargetNet:
    module = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU6())
    return TargetNet(module, (6,), backend=backend)


def random_weights(target: TargetNet, n: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {k: torch.randn(n, *s, generator=gen, dtype=torch.float64) for k, s in target.param_shapes.items()}


def test_activity_is_the_share_of_nonzero_outputs_computed_by_hand():
    target = mlp_target()
    target.module.double()
    w = random_weights(target, 4)
    x = torch.randn(7, 6, dtype=torch.float64)
    hidden = torch.relu(torch.einsum("bi,noi->nbo", x, w["1.weight"]) + w["1.bias"][:, None])
    out = torch.einsum("nbi,noi->nbo", hidden, w["3.weight"]) + w["3.bias"][:, None]
    by_hand = {"2": (hidden > 0).double().mean().item(), "4": (out.clamp(0, 6) != 0).double().mean().item()}
    assert activity(target, w, x) == pytest.approx(by_hand)
    assert 0 < by_hand["2"] < 1 and 0 < by_hand["4"] < 1  # the check is not trivial


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 5), nn.Linear(5, 5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.b(torch.relu(self.a(h))))


class FunctionalNet(nn.Module):
    """ReLUs called as functions, in the root's forward and in a submodule's."""

    def __init__(self):
        super().__init__()
        self.fc1, self.block, self.fc3 = nn.Linear(6, 5), Block(), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.block(F.relu(self.fc1(x)))).relu()


def test_functional_relus_are_counted_by_their_module_and_place():
    target = TargetNet(FunctionalNet().double(), (6,), backend="loop")
    w = random_weights(target, 4)
    x = torch.randn(7, 6, dtype=torch.float64)

    def linear(h, name):
        return torch.einsum("nbi,noi->nbo", h, w[f"{name}.weight"]) + w[f"{name}.bias"][:, None]

    h1 = torch.relu(linear(x.expand(4, 7, 6), "fc1"))
    h2 = torch.relu(linear(h1, "block.a"))
    h3 = linear(h2, "block.b").clamp(0, 6)
    out = torch.relu(linear(h3, "fc3"))
    by_hand = {name: (h != 0).double().mean().item()
               for name, h in {"relu#1": h1, "block.relu#1": h2, "block.relu6#2": h3, "relu#2": out}.items()}
    got = activity(target, w, x)
    assert got == pytest.approx(by_hand) and list(got) == list(by_hand)  # forward order
    assert all(0 < share < 1 for share in by_hand.values())


@pytest.mark.parametrize("backend", ["loop", "threads", "vmap", "auto"])
def test_a_layer_pushed_below_zero_is_silent_on_every_backend_and_the_target_is_left_as_it_was(backend):
    """(The hooks see one network at a time only on the loop backend: the others switch to it.)"""
    target = mlp_target(backend)
    w = {k: v.float() for k, v in random_weights(target, 3).items()}
    x = torch.randn(8, 6)
    assert min(activity(target, w, x).values()) > 0.1
    w["1.bias"] = torch.full((3, 5), -1e3)  # every hidden unit below zero in every network
    assert activity(target, w, x)["2"] == 0.0
    assert target.backend == backend
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in target.module.modules())


def test_training_warns_once_when_a_layer_goes_silent(tmp_path, capsys):
    config = tiny_config("train.steps=6", "target.name=tests.helpers:SilentNet")
    train(config, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    assert err.count("warning: step 3: ReLU layer(s) active on under 1% of their outputs in 3 validation "
                     "networks ('3' (after fc1, module '1') on 0.00%)") == 1  # silent at 3 and 6: said once
    assert "active again" not in err
    rows = [r for r in read_metrics(tmp_path / "run") if "val_mean_accuracy" in r]
    assert [r["val_active.3"] for r in rows] == [0.0, 0.0]  # the trace, in every validation row


def test_a_healthy_run_gets_no_warning(tmp_path, capsys):
    train(tiny_config("train.steps=6"), tmp_path / "run", progress=False)
    assert "ReLU layer" not in capsys.readouterr().err
    assert min(r["val_active.2"] for r in read_metrics(tmp_path / "run") if "val_active.2" in r) > 0.1


def test_the_message_names_new_silent_layers_and_those_active_again():
    from hyperzoo.train import dead_layer_message

    message = dead_layer_message(40, {"7": 0.0002}, {"3"}, 16).splitlines()
    assert message[0].startswith("warning: step 40: ReLU layer(s) active on under 1% of their outputs in "
                                 "16 validation networks ('7' on 0.02%)")
    assert message[1] == "note: step 40: ReLU layer(s) '3' active again"
    assert dead_layer_message(50, {"7": 0.0}, {"7"}, 16) == ""  # nothing changed: nothing said


class Residual(nn.Module):
    """relu(bn(conv b(relu(conv a(x)))) + shortcut(x)): the shortcut's convolution runs last."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.bn, self.shortcut = nn.BatchNorm2d(2), nn.Conv2d(1, 2, 1)
        self.act = nn.ReLU()
        self.head = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        h = self.bn(self.b(self.act(self.a(x))))
        return self.head(F.relu(h + self.shortcut(x)).flatten(1))


def test_a_relu_follows_the_layer_its_input_comes_from():
    """After a residual sum, the ReLU was said to follow the shortcut's convolution (the layer
    that ran last); it follows the main path's, whose output is the sum's first term."""
    target = TargetNet(Residual().eval(), (1, 4, 4), backend="loop")
    w = random_weights(target, 2)
    w = {k: v.float() for k, v in w.items()}
    w.update({k: torch.ones(2, *s) for k, s in target.stat_shapes.items()})
    after = {}
    activity(target, w, torch.randn(3, 1, 4, 4), after)
    labels = dict(zip((s.name for s in target.layers), layer_labels(target.layers), strict=True))
    assert after == {"act": labels["a"], "relu#1": labels["b"]}


class Joined(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.act, self.head = nn.Linear(6, 3), nn.Linear(6, 3), nn.ReLU(), nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.act(torch.cat([self.a(x), self.b(x)], -1)))


def test_a_relu_after_a_concatenation_follows_its_first_part():
    """torch.cat's inputs come in a list: the label was lost there."""
    target = TargetNet(Joined(), (6,), backend="loop")
    after = {}
    activity(target, {k: v.float() for k, v in random_weights(target, 2).items()}, torch.randn(3, 6), after)
    labels = dict(zip((s.name for s in target.layers), layer_labels(target.layers), strict=True))
    assert after == {"act": labels["a"]}

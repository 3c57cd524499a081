import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from hyperzoo.config import ConfigError, load_config
from hyperzoo.optimizers import make_optimizer
from hyperzoo.runs import read_metrics
from hyperzoo.train import train

# Seed 003 Table 1 column (a): one network (an ensemble of one) trained by SGD.
SGD_SINGLE = ["method.name=ensemble", "method.size=1", "method.weight_decay=0.001", "train.optimizer=sgd",
              "train.lr=0.05", "train.noise_batch=1", "train.images_per_noise=16", "train.val_every=3",
              "train.val_networks=1", "data.val_limit=40"]


def test_sgd_is_heavy_ball_momentum_float64():
    """Two steps of p ← p − lr·v, v ← μ·v + g (v₀ = g₀), by hand."""
    p = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = make_optimizer([p], "sgd", lr=0.1)  # μ defaults to 0.9
    g0, g1 = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([-1.0, 2.0], dtype=torch.float64)
    expected = p.detach().clone()
    v = g0
    expected -= 0.1 * v
    v = 0.9 * v + g1
    expected -= 0.1 * v
    for g in (g0, g1):
        p.grad = g.clone()
        opt.step()
    torch.testing.assert_close(p.detach(), expected)
    assert isinstance(make_optimizer([p], "adam", lr=0.1), torch.optim.Adam)
    assert make_optimizer([p], "sgd", lr=0.1, momentum=0.0).param_groups[0]["momentum"] == 0.0


@pytest.mark.parametrize("override, message", [
    ("train.optimizer=rmsprop", "'train.optimizer' = 'rmsprop' is not one of 'adam', 'sgd'"),
    ("train.momentum=0.5", "'train.momentum' = 0.5 applies to train.optimizer 'sgd' only"),
])
def test_bad_optimizer_settings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_momentum_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="'train.momentum' = 1.0 must be in \\[0, 1\\)"):
        load_config(None, ["train.optimizer=sgd", "train.momentum=1.0"])


def test_sgd_single_network_trains_and_resumes_exactly(tmp_path):
    """The momentum buffers are in the checkpoint: 3 + 3 resumed steps equal 6 steps."""
    full, part = tmp_path / "full", tmp_path / "part"
    constant = "train.lr_schedule=constant"
    train(load_config(None, [*SGD_SINGLE, "train.steps=6", constant]), full, argv=["x"], progress=False)
    train(load_config(None, [*SGD_SINGLE, "train.steps=3", "train.checkpoint_every=3", constant]), part,
          argv=["x"], progress=False)
    (part / "config.yaml").write_text((part / "config.yaml").read_text().replace("steps: 3", "steps: 6"))
    train(None, part, resume=True, argv=["x"], progress=False)
    a, b = load_file(str(full / "checkpoint.safetensors")), load_file(str(part / "checkpoint.safetensors"))
    assert a.keys() == b.keys() and any("momentum_buffer" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [json.dumps(r) for r in read_metrics(full)] == [json.dumps(r) for r in read_metrics(part)]


def test_sgd_single_network_learns_digits(tmp_path):
    last = train(load_config(None, [*SGD_SINGLE, "train.steps=150", "train.val_every=150",
                                    "train.images_per_noise=32"]), tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1


def test_fused_adam_is_adams_update_float64():
    """Three steps of Adam by hand (β 0.9, 0.999, ε 1e-8, bias-corrected), fused and per-tensor."""
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    start = torch.randn(3, 4, generator=g, dtype=torch.float64)
    expected, m, v = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
    for t, grad in enumerate(grads, 1):
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        expected -= 0.01 * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
    for fused in (True, False):
        p = nn.Parameter(start.clone())
        opt = make_optimizer([p], "adam", lr=0.01, fused=fused)
        assert opt.defaults["fused"] is (True if fused else None)
        for grad in grads:
            p.grad = grad.clone()
            opt.step()
        torch.testing.assert_close(p.detach(), expected)


def test_a_run_from_before_fused_adam_resumes_with_its_own(tmp_path):
    """A config.yaml without train.fused trained with the per-tensor Adam: reopened so, its
    resume stays exact; a new run records fused: true."""
    from hyperzoo.runs import read_config

    train(load_config(None, [*SGD_SINGLE, "train.optimizer=adam", "train.steps=1"]), tmp_path, argv=["x"],
          progress=False)
    assert read_config(tmp_path).train.fused is True
    text = (tmp_path / "config.yaml").read_text()
    assert "fused: true" in text
    (tmp_path / "config.yaml").write_text(text.replace("  fused: true\n", ""))
    assert read_config(tmp_path).train.fused is False

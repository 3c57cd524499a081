"""MNF and the Bayesian hypernetwork on a target with normalisation layers: their scales and
shifts are point estimates every network shares (the distributions cover conv and linear
weights only)."""

import pytest
import torch

from hyperzoo.config import load_config
from hyperzoo.session import load_run, sample_networks
from hyperzoo.train import train
from tests.helpers import method_overrides


@pytest.mark.parametrize("name", ["mnf", "bhn"])
def test_norm_scales_and_shifts_are_shared_point_estimates_that_train(tmp_path, name):
    train(load_config(None, [*method_overrides(name), "train.steps=3", "target.name=tests.helpers:NormNet"]),
          tmp_path / "run", argv=["x"], progress=False)
    session = load_run(tmp_path / "run", trust_code=True)
    weights = sample_networks(session, 3, seed=0)
    for key in ("2.weight", "2.bias", "5.weight", "5.bias"):
        assert weights[key].shape == (3, *session.target.param_shapes[key])
        assert torch.equal(weights[key][0], weights[key][2])  # shared by every network
    assert not torch.equal(weights["1.weight"][0], weights["1.weight"][1])  # drawn per network
    trained = session.method.norms.params["5__weight"]
    assert not torch.equal(trained, torch.ones_like(trained))  # moved from LayerNorm's initial 1

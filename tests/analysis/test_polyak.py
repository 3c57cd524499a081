"""Polyak distillation: averaging sampled networks in gauge-fixed or raw coordinates."""

import pytest
import torch

from hyperzoo.analysis.polyak import polyak_average
from hyperzoo.config import load_config
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import CIFARResNet, DigitsNet
from hyperzoo.train import train
from hyperzoo.workflows import polyak_run


def digits_target():
    return TargetNet(DigitsNet().double().eval(), (1, 8, 8))


def test_copies_of_one_network_average_to_it():
    target = digits_target()
    w = {k: torch.randn(1, *s, dtype=torch.float64) for k, s in target.param_shapes.items()}
    copies = {k: v.expand(4, *v.shape[1:]) for k, v in w.items()}
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    for coordinates in ("raw", "gauge"):
        avg = polyak_average(target, copies, coordinates)
        torch.testing.assert_close(target(avg, x).softmax(-1), target(w, x).softmax(-1))


def test_gauge_coordinates_average_rescaled_copies_to_the_same_function():
    # Two representatives of one function (a hidden filter scaled by 10 and by 0.1, its readers
    # the other way): the gauge-fixed average is that function, the raw average is not.
    target = digits_target()
    w = {k: torch.randn(1, *s, dtype=torch.float64) * 0.3 for k, s in target.param_shapes.items()}
    layer, nxt = target.layers[0], target.layers[1]
    pair = {k: v.repeat(2, *[1] * (v.dim() - 1)) for k, v in w.items()}
    c = torch.tensor([10.0, 0.1], dtype=torch.float64)
    pair[layer.weight] = pair[layer.weight] * c.view(2, 1, 1, 1, 1)
    pair[layer.bias] = pair[layer.bias] * c.view(2, 1)
    pair[nxt.weight] = pair[nxt.weight] / c.view(2, 1, 1, 1, 1)
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(target(pair, x)[0], target(pair, x)[1])  # one function
    gauge = polyak_average(target, pair, "gauge")
    torch.testing.assert_close(target(gauge, x).softmax(-1)[0], target(w, x).softmax(-1)[0])
    raw = polyak_average(target, pair, "raw")
    assert not torch.allclose(target(raw, x).softmax(-1), target(w, x).softmax(-1), atol=1e-3)


def test_batch_norm_statistics_are_recomputed_for_the_average():
    target = TargetNet(CIFARResNet(depth=8, widths=[4, 4, 4], in_channels=1).double().eval(), (1, 8, 8))
    w = {k: torch.randn(3, *s, dtype=torch.float64) * 0.3 for k, s in target.param_shapes.items()}
    images = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="statistics_x"):
        polyak_average(target, w)
    avg = polyak_average(target, w, statistics_x=images, bn_batch=8)
    assert avg.keys() == {*target.param_shapes, *target.stat_shapes}
    assert all(v.shape[0] == 1 for v in avg.values())
    assert target(avg, images[:4]).shape == (1, 4, 10)


def test_polyak_on_a_trained_digits_run(tmp_path):
    # The demo's hypernetwork on the digits for 250 steps (as tests/test_train.py): ~10 s.
    run = tmp_path / "run"
    train(load_config(None, ["train.steps=250", "train.val_every=250", "train.noise_batch=16",
                             "train.val_networks=4", "train.checkpoint_every=250"]),
          run, argv=["x"], progress=False)
    r = polyak_run(run, k=5, limit=200)
    assert r["networks"] == 5 and r["n_examples"] == 200 and r["coordinates"] == "gauge"
    # Trained far past chance (0.1); the one averaged network classifies about as well as the
    # ensemble it replaces (0.835 vs 0.82 when written).
    assert r["ensemble_accuracy"] > 0.6 and r["polyak_accuracy"] > 0.6
    assert abs(r["polyak_accuracy"] - r["ensemble_accuracy"]) < 0.2
    raw = polyak_run(run, k=5, limit=200, coordinates="raw")
    assert raw["coordinates"] == "raw" and raw["ensemble_accuracy"] == r["ensemble_accuracy"]

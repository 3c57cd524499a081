import json

import pytest
import torch
from safetensors.torch import load_file

from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run, export_networks
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    train(tiny_config("train.steps=3"), path, argv=["x"], progress=False)
    return path


def test_exported_networks_load_into_the_plain_module(run, tmp_path):
    paths = export_networks(run, 3, tmp_path / "nets", seed=1)
    assert [p.name for p in paths] == [f"network_000{i}.safetensors" for i in range(3)]
    manifest = json.loads((tmp_path / "nets" / "manifest.json").read_text())
    assert manifest["target"] == "digits_net" and manifest["n_networks"] == 3
    x = torch.rand(4, 1, 8, 8)
    outs = []
    for p in paths:
        net = DigitsNet()
        net.load_state_dict(load_file(str(p)))
        outs.append(net(x))
    assert not torch.allclose(outs[0], outs[1])


def test_evaluate_writes_metrics(run):
    m = evaluate_run(run, n_networks=4, progress=False)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved == m
    for key in ("mean_accuracy", "std_accuracy", "min_accuracy", "max_accuracy",
                "ensemble_accuracy", "majority_accuracy", "entropy_estimate", "n_networks",
                "dataset", "split"):
        assert key in m
    assert m["n_networks"] == 4 and m["dataset"] == "digits" and m["split"] == "test"
    assert m["min_accuracy"] <= m["mean_accuracy"] <= m["max_accuracy"]


def test_bad_counts(run, tmp_path):
    with pytest.raises(ValueError, match="--networks must be at least 2"):
        evaluate_run(run, n_networks=1, progress=False)
    with pytest.raises(ValueError, match="-n must be at least 1"):
        export_networks(run, 0, tmp_path)

"""Every registered method trains, reopens, samples and evaluates, on the CPU and (where one is
present) on a GPU: a method added to the registry is run here through its tiny settings."""

import pytest
import torch

from hyperzoo.config import load_config
from hyperzoo.runs import checkpoint_meta
from hyperzoo.session import load_run, sample_networks
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run
from tests.helpers import TINY_METHODS, method_overrides

CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                     reason="no CUDA device on this machine"))


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("name", [m for m in TINY_METHODS if m != "deutsch_relaxed"])
def test_every_method_trains_evaluates_and_reopens(tmp_path, name, device):
    cfg = load_config(None, [*method_overrides(name), "train.steps=4", f"train.device={device}",
                             "method.pretrain_steps=2" if name == "hypergan" else "train.lr=0.001"])
    train(cfg, tmp_path, argv=["x"], progress=False)
    s = load_run(tmp_path)
    assert {p.device.type for p in s.method.parameters()} == {device}
    assert ("; GPU " in checkpoint_meta(tmp_path)["machine"]) == (device == "cuda")
    n = min(3, s.method.max_networks or 3)
    assert next(iter(sample_networks(s, n, 0).values())).device.type == device
    m = evaluate_run(tmp_path, 3, split="val", progress=False, session=s)
    assert 0 <= m["mean_accuracy"] <= 1

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from hyperzoo.config import ConfigError, load_config
from hyperzoo.methods import SnapshotEnsemble, SnapshotsConfig, build_method
from hyperzoo.runs import read_metrics
from hyperzoo.session import load_run
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train

# 9 steps, snapshots of the weights after 2, 5 and 8 updates; the ring of 2 keeps 5 and 8.
SNAPSHOTS = ["method.name=snapshots", "method.size=2", "method.burn_in=2", "method.every=3",
             "train.optimizer=sgd", "train.lr=0.05", "train.lr_schedule=constant", "train.noise_batch=1",
             "train.images_per_noise=16", "train.val_every=4", "train.val_networks=4", "data.val_limit=40"]


def weights_after(tmp_path, steps: int) -> dict[str, torch.Tensor]:
    """The trained network of the same config stopped after ``steps`` updates."""
    run = tmp_path / f"stop{steps}"
    train(load_config(None, [*SNAPSHOTS, f"train.steps={steps}"]), run, argv=["x"], progress=False)
    return load_run(run).method.current()


def test_snapshots_are_the_weights_at_the_scheduled_steps(tmp_path):
    run = tmp_path / "run"
    train(load_config(None, [*SNAPSHOTS, "train.steps=9"]), run, argv=["x"], progress=False)
    method = load_run(run).method
    assert isinstance(method, SnapshotEnsemble)
    assert int(method.taken) == 3 and method.max_networks == 2
    w = method.sample(2)
    after5, after8 = weights_after(tmp_path, 5), weights_after(tmp_path, 8)
    for k in w:
        assert torch.equal(w[k][0], after5[k]) and torch.equal(w[k][1], after8[k]), k
    assert torch.equal(method.sample(1)[k][0], after8[k])  # the latest first
    with pytest.raises(ValueError, match="2 snapshots are held, not 3"):
        method.sample(3)
    rows = read_metrics(run)
    assert [r["snapshots"] for r in rows] == [0, 0, 1, 1, 1, 2, 2, 2, 2]  # logged when taken, step t+1


def test_before_the_first_snapshot_the_current_network_is_sampled():
    method = build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "snapshots", "burn_in": 5})
    assert method.max_networks == 1
    w = method.sample(1)
    for k, v in method.current().items():
        assert torch.equal(w[k][0], v)
    with pytest.raises(ValueError, match="no snapshot taken yet \\(the first is at step 5\\)"):
        method.sample(2)


def test_the_ring_keeps_the_latest_in_order():
    torch.manual_seed(0)
    target = TargetNet(nn.Linear(3, 2), (3,))
    m = SnapshotEnsemble(target, SnapshotsConfig(size=3, burn_in=0, every=1))
    for step in range(5):  # snapshot k holds the value k
        with torch.no_grad():
            for p in m.params.values():
                p.fill_(step)
        m.record(step)
    assert [v.item() for v in m.sample(3)["weight"][:, 0, 0]] == [2.0, 3.0, 4.0]
    assert [v.item() for v in m.sample(2)["bias"][:, 0]] == [3.0, 4.0]


def test_resume_equals_uninterrupted(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    train(load_config(None, [*SNAPSHOTS, "train.steps=9"]), full, argv=["x"], progress=False)
    train(load_config(None, [*SNAPSHOTS, "train.steps=4", "train.checkpoint_every=4"]), part, argv=["x"],
          progress=False)
    (part / "config.yaml").write_text((part / "config.yaml").read_text().replace("steps: 4", "steps: 9"))
    train(None, part, resume=True, argv=["x"], progress=False)
    a, b = load_file(str(full / "checkpoint.safetensors")), load_file(str(part / "checkpoint.safetensors"))
    assert a.keys() == b.keys() and "model.taken" in a and any(k.startswith("model.snapshots.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [json.dumps(r) for r in read_metrics(full)] == [json.dumps(r) for r in read_metrics(part)]


@pytest.mark.parametrize("setting, message", [
    ({"size": 0}, "'method.size' = 0 must be at least 1"),
    ({"every": 0}, "'method.every' = 0 must be at least 1"),
    ({"burn_in": -1}, "'method.burn_in' = -1 must be at least 0"),
])
def test_bad_settings_are_config_errors(setting, message):
    with pytest.raises(ConfigError, match=message):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), {"name": "snapshots", **setting})


def test_training_needs_one_minibatch(tmp_path):
    with pytest.raises(ConfigError, match="method 'snapshots' trains one network: set train.noise_batch=1"):
        train(load_config(None, [*SNAPSHOTS, "train.noise_batch=4", "train.steps=2"]), tmp_path,
              argv=["x"], progress=False)


def test_runs_that_would_take_no_snapshot_or_keep_one_steps_set_are_refused(tmp_path, capsys):
    """The defaults (burn_in 1000 of train.steps 1000) made an "ensemble" of the final network;
    keep_best kept the set as it stood at the best validation step, often no snapshot at all."""
    with pytest.raises(ConfigError, match=r"method.burn_in = 2 is not below train.steps = 2: no snapshot"):
        train(load_config(None, [*SNAPSHOTS, "train.steps=2"]), tmp_path / "a", argv=["x"], progress=False)
    with pytest.raises(ConfigError, match="train.keep_best keeps one validation step's model, but method "
                                          "'snapshots' collects its networks over the whole run"):
        train(load_config(None, [*SNAPSHOTS, "train.steps=9", "train.keep_best=true"]), tmp_path / "b",
              argv=["x"], progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    train(load_config(None, [*SNAPSHOTS, "train.steps=4"]), tmp_path / "c", argv=["x"], progress=False)
    assert "leaves room for 1 of method.size = 2 snapshots" in capsys.readouterr().err


def test_evaluate_and_report_use_the_snapshots_held(tmp_path):
    """Asking for more networks than snapshots gives the snapshots (evaluate, report's pool; its
    targeted attacks crafted on one, scored on the other)."""
    from hyperzoo.report import make_report
    from hyperzoo.workflows import evaluate_run

    run = tmp_path / "run"
    train(load_config(None, [*SNAPSHOTS, "train.steps=9"]), run, argv=["x"], progress=False)
    assert evaluate_run(run, n_networks=50, split="val", progress=False)["n_networks"] == 2
    rep = make_report(run, tmp_path / "report", [], None, 50, 30, 10, detection_sizes=[2], progress=False)
    assert rep["adversarial"]["crafted_on"] == rep["adversarial"]["fresh_ensemble"] == 1


@pytest.mark.parametrize("method", [
    ["method.name=snapshots", "method.size=2", "method.burn_in=1", "method.every=1"],
    ["method.name=gaussian_noise", "method.sigma=0.05"]],
                         ids=["snapshots", "gaussian_noise"])
def test_single_network_baselines_on_a_batch_norm_target(tmp_path, method):
    """The networks get their own batch-norm statistics at evaluation, as every method's do."""
    from hyperzoo.workflows import evaluate_run

    resnet = ["target.name=resnet_cifar", "target.kwargs={depth: 8, widths: [4, 6, 8], in_channels: 1}",
              "data.bn_examples=64", "data.bn_batch=32"]
    cfg = load_config(None, [*resnet, *method, "train.noise_batch=1", "train.images_per_noise=8",
                             "train.steps=4", "train.val_every=2", "train.val_networks=3",
                             "data.val_limit=40"])
    train(cfg, tmp_path, argv=["x"], progress=False)
    m = evaluate_run(tmp_path, n_networks=3, split="val", progress=False)
    assert m["n_networks"] == (2 if "snapshots" in method[0] else 3) and 0 <= m["mean_accuracy"] <= 1
    if "gaussian_noise" in method[0]:
        from hyperzoo.noise_tuning import tune_noise_scale

        assert tune_noise_scale(tmp_path, [0.0, 0.1], networks=2)["sigma"] in (0.0, 0.1)

import json

import pytest
import torch
from safetensors.torch import load_file

from hyperzoo.config import load_config
from hyperzoo.methods import DeutschHypernetwork
from hyperzoo.runs import BEST, CHECKPOINT, RunError, checkpoint_meta, checkpoint_step, read_metrics
from hyperzoo.session import load_run
from hyperzoo.train import TrainingDiverged, train
from tests.helpers import tiny_config


def test_run_folder_contents(tmp_path):
    train(tiny_config("train.steps=4"), tmp_path / "run", argv=["hyperzoo", "train"], progress=False)
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file()
    assert (run / "command.txt").read_text() == "hyperzoo train\n"
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert "val_mean_accuracy" in rows[2] and "entropy" in rows[0]
    assert checkpoint_step(run) == 4
    assert not (run / BEST).exists()  # only with train.keep_best
    assert not list(run.glob("*.tmp"))


HYPERGAN = ["method.name=hypergan", "method.z_dim=8", "method.code_size=4",
            "method.mixer_hidden=[16]", "method.generator_hidden=[16]",
            "method.discriminator_hidden=[16]", "method.pretrain_steps=2"]


# Static hypernetwork with the seed 004 training features: random crops, early stopping.
STATIC = ["method.name=static", "data.augment=crop", "data.pad=1", "train.keep_best=true",
          "train.lr_schedule=step", "train.lr_decay_every=1", "train.lr_decay=0.999"]


MC_DROPOUT = ["method.name=mc_dropout", "method.p=0.3"]
MNF = ["method.name=mnf", "method.flow_hidden=8"]
BHN = ["method.name=bhn", "method.flow_hidden=8"]
DEEP_ENSEMBLE = ["method.name=ensemble", "method.size=4", "method.adversarial_eps=0.01"]


@pytest.mark.parametrize("method", [[], HYPERGAN, STATIC, MC_DROPOUT, MNF, BHN, DEEP_ENSEMBLE],
                         ids=["deutsch", "hypergan", "static", "mc_dropout", "mnf", "bhn", "deep_ensemble"])
def test_resume_equals_uninterrupted(tmp_path, method):
    full, part = tmp_path / "full", tmp_path / "part"
    constant = "train.lr_schedule=constant"

    def config(*extra):
        if method:  # HyperGAN takes none of the Deutsch keys of the tiny config
            return load_config(None, [*method, "train.noise_batch=4", "train.images_per_noise=8",
                                      "train.val_every=3", "train.val_networks=3", *extra])
        return tiny_config(*extra)

    if method == STATIC:  # the step decay is per step, not over the run: resumable as it is
        constant = "train.lr_decay=0.999"
    train(config("train.steps=6", constant), full, argv=["x"], progress=False)
    train(config("train.steps=3", "train.checkpoint_every=3", constant), part, argv=["x"],
          progress=False)
    # Extend the finished run by editing its config, as a user would, then resume (a
    # constant learning rate: a cosine schedule depends on the total number of steps).
    cfg = (part / "config.yaml").read_text().replace("steps: 3", "steps: 6")
    (part / "config.yaml").write_text(cfg)
    train(None, part, resume=True, argv=["x"], progress=False)
    files = ["checkpoint.safetensors"] + (["best.safetensors"] if method == STATIC else [])
    for name in files:
        a, b = load_file(str(full / name)), load_file(str(part / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    assert [json.dumps(r) for r in read_metrics(full)] == [json.dumps(r) for r in read_metrics(part)]


def test_refuses_to_overwrite_a_trained_run(tmp_path):
    train(tiny_config("train.steps=2"), tmp_path, argv=["x"], progress=False)
    with pytest.raises(RunError, match="already holds a trained run"):
        train(tiny_config("train.steps=2"), tmp_path, argv=["x"], progress=False)
    with pytest.raises(RunError, match="already finished its 2 steps"):
        train(None, tmp_path, resume=True, argv=["x"], progress=False)


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    original = DeutschHypernetwork.training_loss

    def poisoned(self, x, y, step, generator=None):
        out = original(self, x, y, step, generator)
        return {**out, "loss": out["loss"] * float("nan")} if step == 4 else out

    monkeypatch.setattr(DeutschHypernetwork, "training_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 4; kept the last good "
                                               r"checkpoint \(step 4\)"):
        train(tiny_config("train.steps=50"), tmp_path, argv=["x"], progress=False)
    assert checkpoint_step(tmp_path) == 4
    session = load_run(tmp_path)
    assert all(torch.isfinite(p).all() for p in session.method.parameters())


def test_short_training_beats_chance_by_far(tmp_path):
    # The demo's hypernetwork (paper sizes) on the digits, a quarter of the demo's steps.
    last = train(load_config(None, ["train.steps=250", "train.val_every=250",
                                    "train.noise_batch=16", "train.val_networks=8"]),
                 tmp_path, argv=["x"], progress=False)
    assert last["val_mean_accuracy"] > 0.6  # chance is 0.1
    assert last["val_std_accuracy"] > 0  # the networks differ


def test_keep_best_keeps_the_model_of_the_best_validation(tmp_path):
    cfg = load_config(None, [*STATIC, "train.steps=8", "train.val_every=1", "train.val_networks=1",
                             "train.noise_batch=1", "train.images_per_noise=16", "train.lr=0.01",
                             "data.val_limit=60"])
    train(cfg, tmp_path, argv=["x"], progress=False)
    rows = read_metrics(tmp_path)
    accs = [r["val_mean_accuracy"] for r in rows]
    best_step = rows[accs.index(max(accs))]["step"]  # the first step reaching the maximum
    meta = checkpoint_meta(tmp_path, BEST)
    assert meta["step"] == best_step and meta["val_mean_accuracy"] == max(accs)
    session = load_run(tmp_path)
    assert (session.checkpoint, session.checkpoint_step) == (BEST, best_step)
    last = load_run(tmp_path, checkpoint=CHECKPOINT)
    assert last.checkpoint_step == 8
    best_net, last_net = session.method.network(), last.method.network()
    assert any(not torch.equal(best_net[k], last_net[k]) for k in best_net) == (best_step != 8)

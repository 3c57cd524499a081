import json

import pytest
import torch
from safetensors.torch import load_file

from hyperzoo import devices, runs
from hyperzoo.config import ConfigError, load_config
from hyperzoo.methods import METHODS, DeutschHypernetwork
from hyperzoo.runs import (
    BEST,
    CHECKPOINT,
    RunError,
    checkpoint_meta,
    checkpoint_step,
    read_metrics,
    validation_score_of,
)
from hyperzoo.session import build_session, load_run
from hyperzoo.train import TrainingDiverged, train, train_to_completion, training_batch
from tests.helpers import TINY_METHODS, tiny_config


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


# Seed 002's CIFAR protocol on the digits: crops and flips, two draws per batch from the data generator.
HYPERGAN_FLIPS = [*HYPERGAN, "data.augment=crop_flip", "data.pad=1"]
MC_DROPOUT = ["method.name=mc_dropout", "method.p=0.3"]
MNF = ["method.name=mnf", "method.flow_hidden=8"]
BHN = ["method.name=bhn", "method.flow_hidden=8"]
DEEP_ENSEMBLE = ["method.name=ensemble", "method.size=4", "method.adversarial_eps=0.01"]
ENSEMBLE = ["method.name=ensemble", "method.size=4", "method.weight_decay=1e-4"]
# The two toy problems, through the same trainer: regression (keeping the best RMSE) and a
# method that needs no data.
REGRESSION = ["target.name=regression_mlp", "data.dataset=cubic", *HYPERGAN, "method.task=regression",
              "train.keep_best=true"]
TOY = ["target.name=point", "data.dataset=none", "method.name=toy_mixture"]


# Every registered method (a test below holds the list to the registry), and the variants whose
# resumed state differs: augmentation's draws, adversarial training, a best checkpoint.
RESUME_CASES = {
    "deutsch": [], "hypergan": HYPERGAN, "hypergan_crop_flip": HYPERGAN_FLIPS, "static": STATIC,
    "mc_dropout": MC_DROPOUT, "ensemble": ENSEMBLE, "mnf": MNF, "bhn": BHN, "deep_ensemble": DEEP_ENSEMBLE,
    "gaussian_noise": TINY_METHODS["gaussian_noise"], "snapshots": TINY_METHODS["snapshots"],
    "regression": REGRESSION, "toy_mixture": TOY,
}


def test_resume_covers_every_method():
    assert set(METHODS) <= set(RESUME_CASES)


@pytest.mark.parametrize("method", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_resume_equals_uninterrupted(tmp_path, method):
    full, part = tmp_path / "full", tmp_path / "part"
    constant = "train.lr_schedule=constant"

    if method == HYPERGAN_FLIPS:
        # Flips are refused on the built-in digits (a mirrored digit is another glyph): the same
        # images as a set of one's own, only to resume the flips' draws.
        import numpy as np

        from hyperzoo.data import load_dataset
        train_split, test_split = load_dataset("digits", "trainval"), load_dataset("digits", "test")
        np.savez(tmp_path / "pictures.npz", x_train=train_split.x.numpy(), y_train=train_split.y.numpy(),
                 x_test=test_split.x.numpy(), y_test=test_split.y.numpy())
        method = [*method, f"data.dataset={tmp_path / 'pictures.npz'}"]

    def config(*extra):
        if method:  # HyperGAN takes none of the Deutsch keys of the tiny config
            return load_config(None, ["train.noise_batch=4", "train.images_per_noise=8", "train.val_every=3",
                                      "train.val_networks=3", *method, *extra])
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
    files = ["checkpoint.safetensors"] + (["best.safetensors"] if method in (STATIC, REGRESSION) else [])
    for name in files:
        a, b = load_file(str(full / name)), load_file(str(part / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k
    assert [json.dumps(r) for r in read_metrics(full)] == [json.dumps(r) for r in read_metrics(part)]


def test_train_to_completion_trains_resumes_and_leaves_finished_runs(tmp_path):
    run = tmp_path / "run"
    train(tiny_config("train.steps=2", "train.lr_schedule=constant"), run, argv=["x"], progress=False)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 2", "steps: 4"))
    wanted = tiny_config("train.steps=4", "train.lr_schedule=constant")
    # Seconds rounded to 0.1: two tiny steps can take 0.0 on a fast machine.
    assert train_to_completion(wanted, run, progress=False) is not None  # resumed from step 2
    assert checkpoint_step(run) == 4
    assert train_to_completion(wanted, run, progress=False) is None  # finished: untouched
    assert train_to_completion(wanted, tmp_path / "new", progress=False) is not None
    assert checkpoint_step(tmp_path / "new") == 4


def test_refuses_to_overwrite_a_trained_run(tmp_path):
    train(tiny_config("train.steps=2"), tmp_path, argv=["x"], progress=False)
    with pytest.raises(RunError, match="already holds a trained run"):
        train(tiny_config("train.steps=2"), tmp_path, argv=["x"], progress=False)
    with pytest.raises(RunError, match="already finished its 2 steps"):
        train(None, tmp_path, resume=True, argv=["resumed"], progress=False)
    assert (tmp_path / "command.txt").read_text() == "x\n"  # a refused command is not recorded


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    original = DeutschHypernetwork.training_loss

    def poisoned(self, x, y, step, generator=None):
        out = original(self, x, y, step, generator)
        return {**out, "loss": out["loss"] * float("nan")} if step == 4 else out

    monkeypatch.setattr(DeutschHypernetwork, "training_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5; kept the last good "
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
    assert meta["step"] == best_step and meta["val_score"] == max(accs)
    # What scripts read (experiments/static_table.py), and the name older folders used.
    assert validation_score_of(meta) == validation_score_of({"val_mean_accuracy": max(accs)}) == max(accs)
    session = load_run(tmp_path)
    assert (session.checkpoint, session.checkpoint_step) == (BEST, best_step)
    last = load_run(tmp_path, checkpoint=CHECKPOINT)
    assert last.checkpoint_step == 8
    best_net, last_net = session.method.network(), last.method.network()
    assert any(not torch.equal(best_net[k], last_net[k]) for k in best_net) == (best_step != 8)


class _InfiniteGradient(torch.autograd.Function):
    """Identity forward, infinite gradient backward: a finite loss whose gradients blow up."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("inf")


def test_non_finite_gradients_stop_before_anything_is_saved(tmp_path, monkeypatch):
    original = DeutschHypernetwork.training_loss

    def poisoned(self, x, y, step, generator=None):
        out = original(self, x, y, step, generator)
        return {**out, "loss": _InfiniteGradient.apply(out["loss"])} if step == 2 else out

    monkeypatch.setattr(DeutschHypernetwork, "training_loss", poisoned)
    match = (r"the gradients of optimizer group 'model' became NaN or infinite at step 3; "
             r"kept the last good checkpoint \(step 2\)")
    with pytest.raises(TrainingDiverged, match=match):
        train(tiny_config("train.steps=50"), tmp_path, argv=["x"], progress=False)
    assert checkpoint_step(tmp_path) == 2
    tensors = load_file(str(tmp_path / CHECKPOINT))
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if v.is_floating_point())


def test_huge_lambda_stops_on_the_optimizer_state(tmp_path):
    """λ = 10³⁰ keeps the loss finite but overflows Adam's second moment: stop, save nothing."""
    with pytest.raises(TrainingDiverged, match="became NaN or infinite at step 1"):
        train(tiny_config("method.lam=1e30", "train.steps=5"), tmp_path / "r", argv=["x"], progress=False)
    assert checkpoint_step(tmp_path / "r") is None


def test_optimizer_state_check_works_with_parameters_off_the_cpu():
    """Adam keeps its step counter on the CPU whatever the parameters' device; the fused check
    must not stack it with the others (on a GPU it raised at the first step). The meta device
    stands in for a GPU: any device but the CPU's."""
    from hyperzoo.train import _finite, _state_tensors

    p = torch.nn.Parameter(torch.zeros(3, device="meta"))
    opt = torch.optim.Adam([p])
    p.grad = torch.ones(3, device="meta")
    opt.step()
    assert opt.state[p]["step"].device.type == "cpu"  # the premise: torch's own choice
    assert _finite(_state_tensors(opt), p.device).device.type == "meta"
    assert _finite(_state_tensors(opt, squares=True), p.device, nonnegative=True).device.type == "meta"


def test_large_finite_second_moments_are_finite():
    """Adam's exp_avg_sq holds squared gradients: a 2-norm squares them again and overflowed
    float32 once they pass about 1.8e19 / sqrt(entries), stopping a run still finite (a review);
    infinities and NaN are still caught."""
    from hyperzoo.train import _finite, _state_tensors

    p = torch.nn.Parameter(torch.zeros(10**6))
    opt = torch.optim.Adam([p])
    p.grad = torch.full((10**6,), 1e10)  # exp_avg_sq after one step: 1e-3 · 1e20
    opt.step()
    squares = _state_tensors(opt, squares=True)
    assert [t.data_ptr() for t in squares] == [opt.state[p]["exp_avg_sq"].data_ptr()]
    assert not bool(_finite(squares, p.device))  # the 2-norm's overflow: the premise
    assert bool(_finite(squares, p.device, nonnegative=True))
    for bad in (float("inf"), float("nan")):
        squares[0][5] = bad
        assert not bool(_finite(squares, p.device, nonnegative=True))


def test_divergence_check_is_one_fused_check_whatever_the_number_of_tensors():
    """The per-step finiteness check dispatches the same few operators for 3 tensors as for 300
    (one multi-tensor norm, not an operator per tensor), and still sees a NaN or an infinity in
    the last one. Its cost as a fraction of a step is measured in bench/step_time.py, not timed here."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from hyperzoo.train import _finite

    class Operators(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(str(func))
            return func(*args, **(kwargs or {}))

    calls = {}
    for n in (3, 300):
        tensors = [torch.randn(4, 5) for _ in range(n)]
        with Operators() as ops:
            assert bool(_finite(tensors, torch.device("cpu")))
        calls[n] = ops.names
        for bad in (float("nan"), float("inf"), -float("inf")):
            tensors[-1][2, 3] = bad
            assert not bool(_finite(tensors, torch.device("cpu")))
    assert calls[3] == calls[300] and len(calls[3]) < 10, calls


@pytest.mark.parametrize(("override", "key"), [
    ("train.steps=0", "train.steps"), ("train.checkpoint_every=0", "train.checkpoint_every"),
    ("train.val_every=0", "train.val_every"), ("train.lr=0", "train.lr"),
    ("train.images_per_noise=0", "train.images_per_noise"), ("train.threads=0", "train.threads"),
    ("train.lr_schedule=linear", "train.lr_schedule"), ("method.z_dim=0", "method.z_dim"),
    ("train.noise_batch=1", "train.noise_batch"),
    ("method.name=ensemble train.noise_batch=8", "train.noise_batch=10"),
    ("target.name=no_such_net", "unknown target"), ("method.lam=-1", "method.lam"),
    # Trained: a mirrored digit is another glyph.
    ("data.augment=crop_flip data.pad=1", "a mirrored digit or letter of 'digits' is another")])
def test_bad_values_are_named_before_any_folder_exists(tmp_path, override, key):
    from hyperzoo.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        train(load_config(None, override.split()), tmp_path / "r", argv=["x"], progress=False)
    assert not (tmp_path / "r").exists()


def test_out_that_is_not_a_new_run_is_refused(tmp_path):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "metrics.jsonl").write_text("my own\n")
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "config.yaml").write_text("train: {steps: 3}\n")
    cases = {"file": "is a file", "mine": "not empty and not a hyperzoo run folder",
             "crashed": "stopped before its first checkpoint; continue it with hyperzoo train --resume"}
    for name, match in cases.items():
        with pytest.raises(RunError, match=match):
            train(tiny_config("train.steps=1"), tmp_path / name, argv=["x"], progress=False)
    assert (tmp_path / "mine" / "metrics.jsonl").read_text() == "my own\n"
    assert (tmp_path / "crashed" / "config.yaml").read_text() == "train: {steps: 3}\n"


def test_under_torchrun_a_held_folder_names_the_torchrun_resume(tmp_path, monkeypatch):
    """The refusal suggested a one-process resume to a run trained by several processes."""
    from hyperzoo.train import check_new_run_dir

    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "config.yaml").write_text("train: {steps: 3}\n")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(RunError, match="continue it with torchrun --nproc_per_node=2 --standalone "
                                       "--no-python hyperzoo train --resume"):
        check_new_run_dir(tmp_path / "crashed")


def test_config_yaml_records_the_resolved_method(tmp_path):
    import yaml

    train(tiny_config("train.steps=1"), tmp_path, argv=["x"], progress=False)
    method = yaml.safe_load((tmp_path / "config.yaml").read_text())["method"]
    from dataclasses import fields

    from hyperzoo.methods import DeutschConfig
    assert set(method) == {f.name for f in fields(DeutschConfig)}
    assert method["lam"] == 3000.0 and method["z_dim"] == 8 and method["gamma"] == 1.0


def test_config_yaml_records_the_noise_batch_a_method_took_for_an_unset_one(tmp_path):
    import yaml

    settings = ["train.steps=2", "train.val_every=2", "train.val_networks=2", "data.val_limit=20",
                "train.images_per_noise=4"]
    for name, extra, n in (("ensemble", ["method.size=3"], 3), ("gaussian_noise", [], 1),
                           ("deutsch", [], 32)):
        config = load_config(None, [*settings, f"method.name={name}", *extra])
        train(config, tmp_path / name, argv=["x"], progress=False)
        assert config.train.noise_batch is None  # the caller's config is left as given
        assert yaml.safe_load((tmp_path / name / "config.yaml").read_text())["train"]["noise_batch"] == n


def test_resume_is_exact_for_a_target_with_dropout(tmp_path):
    """The target's dropout draws from torch's global RNG, which the checkpoint keeps."""
    full, part = tmp_path / "full", tmp_path / "part"
    extra = ["target.name=tests.helpers:DropoutNet", "train.lr_schedule=constant",
             "method.diversity=outputs"]
    train(tiny_config("train.steps=6", *extra), full, argv=["x"], progress=False)
    train(tiny_config("train.steps=3", "train.checkpoint_every=3", *extra), part, argv=["x"],
          progress=False)
    (part / "config.yaml").write_text((part / "config.yaml").read_text().replace("steps: 3", "steps: 6"))
    from hyperzoo.errors import ConfigError
    with pytest.raises(ConfigError, match="import path read from a run folder.*--trust-code"):
        train(None, part, resume=True, argv=["x"], progress=False)
    train(None, part, resume=True, argv=["x"], progress=False, trust_code=True)
    a, b = load_file(str(full / CHECKPOINT)), load_file(str(part / CHECKPOINT))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_with_another_thread_count_says_so(tmp_path, capsys):
    train(tiny_config("train.steps=2", "train.threads=1"), tmp_path, argv=["x"], progress=False)
    meta = checkpoint_meta(tmp_path)
    assert meta["threads"] == 1
    cfg = (tmp_path / "config.yaml").read_text().replace("steps: 2", "steps: 3").replace(
        "threads: 1", "threads: 2")
    (tmp_path / "config.yaml").write_text(cfg)
    capsys.readouterr()
    train(None, tmp_path, resume=True, argv=["x"], progress=False)
    err = capsys.readouterr().err
    assert "trained with 1 threads, this process uses 2" in err


def test_a_config_edited_before_a_resume_is_noted_and_recorded(tmp_path, capsys):
    """λ edited in config.yaml was taken in silence, the folder then claiming it for every step."""
    train(tiny_config("train.steps=2", "train.threads=1"), tmp_path, argv=["x"], progress=False)
    recorded = checkpoint_meta(tmp_path)["config"]["method"]["lam"]
    assert recorded == load_config(tmp_path / "config.yaml").method["lam"]
    longer = (tmp_path / "config.yaml").read_text().replace("steps: 2", "steps: 3")
    (tmp_path / "config.yaml").write_text(longer)
    capsys.readouterr()
    train(None, tmp_path, resume=True, argv=["y"], progress=False)  # a longer run: nothing to say
    assert "config.yaml changed" not in capsys.readouterr().err
    lines = (tmp_path / "command.txt").read_text().splitlines()
    # Recorded as free edits (a steps change, the rate it moved), not as a changed config.
    assert lines[0] == "x" and lines[1] == "# train.steps 2 -> 3 in config.yaml" and lines[-1] == "y"
    assert len(lines) == 4 and lines[2].startswith("# the schedule now gives")
    config = load_config(tmp_path / "config.yaml")
    lam = config.method["lam"]
    (tmp_path / "config.yaml").write_text(longer.replace("steps: 3", "steps: 4").replace(
        f"lam: {lam}", "lam: 5.0"))
    train(None, tmp_path, resume=True, argv=["z"], progress=False)
    err = " ".join(capsys.readouterr().err.split())
    assert f"config.yaml changed since the checkpoint of step 3: method.lam {lam!r} -> 5.0;" in err
    lines = (tmp_path / "command.txt").read_text().splitlines()
    z = lines.index("z")
    assert lines[z - 1].startswith("# ") and lines.index(
        f"# config.yaml changed since the checkpoint of step 3: method.lam {lam!r} -> 5.0") > lines.index("y")
    assert checkpoint_meta(tmp_path)["config"]["method"]["lam"] == 5.0  # said once


def test_resume_on_another_cpu_or_torch_says_so(tmp_path, capsys, monkeypatch):
    train(tiny_config("train.steps=2"), tmp_path, argv=["x"], progress=False)
    meta = checkpoint_meta(tmp_path)
    assert meta["machine"] == devices.machine() and meta["torch"] == torch.__version__
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("steps: 2", "steps: 3"))
    monkeypatch.setattr(runs, "machine", lambda device=None: "Another CPU, AVX2, x86_64")
    capsys.readouterr()
    train(None, tmp_path, resume=True, argv=["x"], progress=False)
    err = capsys.readouterr().err
    assert (f"written on {meta['machine']!r}, this process runs on "
            "'Another CPU, AVX2, x86_64'") in err
    assert "with torch" not in err


def test_auto_lam_is_resolved_before_training_recorded_and_kept_on_resume(tmp_path, capsys):
    auto, number, part = tmp_path / "auto", tmp_path / "number", tmp_path / "part"
    constant = "train.lr_schedule=constant"
    train(tiny_config("method.lam=auto", "train.steps=4", constant), auto, argv=["x"], progress=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if "method.lam auto" in line]
    lam = load_config(auto / "config.yaml").method["lam"]
    assert isinstance(lam, float) and lam > 0 and len(lines) == 1 and f"{lam:g}" in lines[0]
    assert {r["lam"] for r in read_metrics(auto)} == {lam}
    # The probe changes nothing the trainer uses: the same run as the number given by hand.
    train(tiny_config(f"method.lam={lam}", "train.steps=4", constant), number, argv=["x"],
          progress=False)
    a, b = load_file(str(auto / CHECKPOINT)), load_file(str(number / CHECKPOINT))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Deterministic, and a resumed run keeps the recorded number (no new probe).
    train(tiny_config("method.lam=auto", "train.steps=2", constant), part, argv=["x"], progress=False)
    assert load_config(part / "config.yaml").method["lam"] == lam
    (part / "config.yaml").write_text((part / "config.yaml").read_text().replace("steps: 2", "steps: 4"))
    capsys.readouterr()
    train(None, part, resume=True, argv=["x"], progress=False)
    assert "method.lam auto" not in capsys.readouterr().err
    assert load_config(part / "config.yaml").method["lam"] == lam
    c = load_file(str(part / CHECKPOINT))
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_training_time_is_carried_through_resumes(tmp_path):
    from hyperzoo.runs import content_hash, read_checkpoint, training_time
    from hyperzoo.weights import save_tensors
    from hyperzoo.workflows import evaluate_run

    run = tmp_path / "run"

    def extend(steps: int) -> None:
        cfg = (run / "config.yaml").read_text()
        (run / "config.yaml").write_text(cfg.replace(f"steps: {steps - 3}", f"steps: {steps}"))
        train(None, run, resume=True, argv=["x"], progress=False)

    train(tiny_config("train.steps=3", "train.lr_schedule=constant"), run, argv=["x"], progress=False)
    first = training_time(run)
    # (Seconds, not asserted beyond their order: a tiny run can take less than a millisecond.)
    assert first["train_seconds"] >= 0 and first["train_seconds_from_step"] == 0
    extend(6)
    second = training_time(run)
    assert second["train_seconds"] >= first["train_seconds"] and second["train_seconds_from_step"] == 0
    assert evaluate_run(run, 3, split="val", progress=False)["train_seconds"] == second["train_seconds"]
    # A checkpoint written before times were recorded: the count restarts at its step, and says so.
    meta, tensors = read_checkpoint(run / CHECKPOINT, full=True)
    for key in ("train_seconds", "train_seconds_from_step", "machine", "torch", "sha256"):
        meta.pop(key)
    meta["sha256"] = content_hash(tensors, meta)
    save_tensors(run / CHECKPOINT, tensors, {"hyperzoo": json.dumps(meta)})
    assert training_time(run) == {}
    extend(9)
    third = training_time(run)
    assert third["train_seconds_from_step"] == 6 and third["train_seconds"] >= 0


def test_metrics_report_the_training_time_of_the_checkpoint_they_evaluate(tmp_path):
    from hyperzoo.runs import BEST, checkpoint_meta, training_time
    from hyperzoo.workflows import evaluate_run

    run = tmp_path / "run"
    train(tiny_config("train.steps=6", "train.val_every=2", "train.keep_best=true"), run, argv=["x"],
          progress=False)
    best = checkpoint_meta(run, BEST)
    assert best is not None and best["train_seconds"] <= training_time(run)["train_seconds"]
    metrics = evaluate_run(run, 3, split="val", progress=False)
    assert metrics["checkpoint"] == BEST and metrics["checkpoint_step"] == best["step"]
    assert metrics["train_seconds"] == best["train_seconds"] == training_time(run, BEST)["train_seconds"]
    # The CPU that trained it and the one whose seconds "seconds" are (here the same).
    assert metrics["train_machine"] == metrics["machine"] == devices.machine()


@pytest.mark.parametrize(("units", "noted"), [([], True), (["AMX"], False), (None, False)])
def test_bf16_on_a_cpu_without_bf16_units_says_it_will_be_slow(tmp_path, capsys, monkeypatch, units, noted):
    monkeypatch.setattr(devices, "bf16_units", lambda cpuinfo=None: units)  # None: flags unknown
    train(tiny_config("train.steps=1", "train.precision=bf16"), tmp_path, argv=["x"], progress=False)
    assert ("bfloat16 is emulated there" in capsys.readouterr().err) == noted


@pytest.mark.parametrize(("capability", "emulated"), [((7, 5), True), ((8, 0), False), ((9, 0), False)])
def test_bf16_is_emulated_on_gpus_before_ampere(monkeypatch, capability, emulated):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert (devices.bf16_emulated(torch.device("cuda")) is not None) == emulated


def test_every_share_of_a_batch_carries_the_whole_batchs_probe():
    config = tiny_config("train.noise_batch=3", "train.images_per_noise=6")
    data = build_session(config).train_data

    def batch(share: slice = slice(None)):
        return training_batch(data, 3, 6, config, torch.Generator().manual_seed(0), share, probe=5)
    whole = batch()
    assert torch.equal(whole.probe, whole.x[0, :5])
    for share in (slice(0, 2), slice(2, 4), slice(4, 6)):
        part = batch(share)
        assert torch.equal(part.x, whole.x[:, share]) and torch.equal(part.y, whole.y[:, share])
        assert torch.equal(part.probe, whole.probe)
    assert training_batch(data, 3, 6, config, torch.Generator()).probe is None


class _Stop(Exception):
    """A stop in the middle of training (as a kill would stop it)."""


def _stop_at(monkeypatch, step: int) -> None:
    import hyperzoo.train as trainer

    real = trainer.lr_factor

    def factor(i, *args, **kwargs):
        if i == step:
            raise _Stop
        return real(i, *args, **kwargs)
    monkeypatch.setattr(trainer, "lr_factor", factor)


def test_a_second_stop_never_leaves_the_best_model_worse_than_one_validated(tmp_path, monkeypatch):
    """Stopped after step 21 (checkpoint at 16, best model saved later), resumed and stopped
    again after step 19: the best model kept must score at least every validation logged."""
    cfg = load_config(None, ["method.name=static", "train.keep_best=true", "train.threads=1",
                             "train.steps=40",
                             "train.val_every=2", "train.val_networks=1", "train.noise_batch=1",
                             "train.images_per_noise=64", "train.lr=0.01", "train.checkpoint_every=8",
                             "train.lr_schedule=constant"])
    run = tmp_path / "run"
    for stop, resume in ((21, False), (19, True)):
        _stop_at(monkeypatch, stop)
        with pytest.raises(_Stop):
            train(None if resume else cfg, run, resume=resume, argv=["x"], progress=False)
        logged = max(r["val_mean_accuracy"] for r in read_metrics(run) if "val_mean_accuracy" in r)
        assert checkpoint_meta(run, BEST)["val_score"] >= logged


def test_training_called_under_no_grad_still_trains(tmp_path):
    """A notebook's train() after an evaluation under torch.no_grad(): the steps still learn."""
    with torch.no_grad():
        train(tiny_config("train.steps=2"), tmp_path / "run", argv=["x"], progress=False)
    rows = [r for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert len(rows) == 2 and rows[0]["loss"] != rows[1]["loss"]


def test_a_probe_larger_than_its_images_is_recorded_as_used(tmp_path, capsys):
    """It was cut to network 0's images silently, config.yaml saying 1000."""
    train(tiny_config("method.diversity=outputs", "method.probe_size=1000", "train.steps=1"), tmp_path / "r",
          argv=["x"], progress=False)
    used = load_config(tmp_path / "r" / "config.yaml", []).method["probe_size"]
    assert used == load_config(tmp_path / "r" / "config.yaml", []).train.images_per_noise
    assert f"method.probe_size 1000 is cut to the train.images_per_noise {used}" in capsys.readouterr().err


def test_a_training_split_of_one_class_is_refused_before_any_folder(tmp_path):
    """It trained, and reported accuracies against that one class."""
    import numpy as np

    from hyperzoo.data import DataError

    x = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "one.npz", x_train=x, y_train=np.zeros(20), x_test=x[:4], y_test=np.zeros(4))
    with pytest.raises(DataError, match="its training split holds one class \\(label 0\\)"):
        train(tiny_config(f"data.dataset={tmp_path / 'one.npz'}"), tmp_path / "r", argv=["x"], progress=False)
    assert not (tmp_path / "r").exists()


def test_an_input_shape_other_than_the_datas_is_recorded_as_the_datas(tmp_path, capsys):
    """The data's shape builds the target; [3, 32, 32] was recorded, and the run reopened without
    its data rebuilt the target at that shape (a traceback)."""
    train(tiny_config("train.steps=1", "target.input_shape=[3,32,32]"), tmp_path / "r", argv=["x"],
          progress=False)
    assert "note: target.input_shape [3, 32, 32] is not the data's [1, 8, 8]" in capsys.readouterr().err
    assert load_config(tmp_path / "r" / "config.yaml").target.input_shape == [1, 8, 8]
    load_run(tmp_path / "r")


def test_a_fixed_split_set_refuses_a_validation_fraction_but_old_folders_reopen(tmp_path):
    """data.val_fraction on digits was ignored and recorded as if it had applied: a new run
    refuses it; a folder that recorded it (it never had an effect) still reopens and resumes."""
    from hyperzoo.config import ConfigError

    refused = "data.val_fraction 0.5 does not apply to the built-in 'digits' set"
    with pytest.raises(ConfigError, match=refused):
        train(tiny_config("train.steps=2", "data.val_fraction=0.5"), tmp_path / "new", argv=["x"],
              progress=False)
    assert not (tmp_path / "new").exists()
    train(tiny_config("train.steps=2"), tmp_path / "old", argv=["x"], progress=False)
    config = tmp_path / "old" / "config.yaml"
    config.write_text(config.read_text().replace("val_fraction: null", "val_fraction: 0.5")
                      .replace("steps: 2\n", "steps: 3\n"))
    from hyperzoo.workflows import evaluate_run

    assert evaluate_run(tmp_path / "old", n_networks=2, progress=False)["n_examples"] == 300
    train(None, tmp_path / "old", resume=True, argv=["x"], progress=False)
    assert load_run(tmp_path / "old").checkpoint_step == 3


def test_a_resume_whose_schedule_changed_the_rate_says_so(tmp_path, capsys):
    """train.steps raised to continue a cosine run: its rate jumped back up without a word."""
    train(tiny_config("train.steps=4", "train.lr_schedule=cosine"), tmp_path, argv=["x"], progress=False)
    cfg = (tmp_path / "config.yaml").read_text().replace("steps: 4", "steps: 8")
    (tmp_path / "config.yaml").write_text(cfg)
    capsys.readouterr()
    train(None, tmp_path, resume=True, argv=["x"], progress=False)
    assert "note: the schedule now gives step 4 a learning rate of" in capsys.readouterr().err
    rows = read_metrics(tmp_path)
    assert rows[4]["lr"] > rows[3]["lr"]  # what the note announced
    # The folder says so too (a stderr note alone is gone with the terminal).
    lines = (tmp_path / "command.txt").read_text().splitlines()
    assert len(lines) == 4 and lines[0] == lines[3] == "x"
    assert lines[1] == "# train.steps 4 -> 8 in config.yaml"
    assert lines[2].startswith("# the schedule now gives step 4 a learning rate of")


def test_logged_scalars_keep_seven_significant_digits(tmp_path):
    """round(v, 6) kept one or two digits of a cross-entropy near 1e-5."""
    from hyperzoo.distributed import World
    from hyperzoo.train import read_rows

    rows, bad = read_rows([(1, 0.1, ["loss", "cross_entropy"], torch.tensor([2.5, 3.2123456789e-05]), [],
                            torch.zeros(0, dtype=torch.bool))], World())
    assert bad is None and rows[0]["cross_entropy"] == 3.212346e-05 and rows[0]["loss"] == 2.5


@pytest.mark.parametrize("share", [slice(None), slice(1, 3)])
def test_each_networks_labels_are_those_of_its_own_images(share):
    """Labels transposed against the images were caught only by a training run's accuracy."""
    from hyperzoo.data import Dataset

    x = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 1, 2, 2).clone()
    data = Dataset(x, torch.arange(50) % 7, "unique", "train", 7)  # image k holds the value k
    batch = training_batch(data, 3, 4, tiny_config(), torch.Generator().manual_seed(0), share)
    assert batch.x.shape[:2] == batch.y.shape == (3, len(range(4)[share]))
    assert torch.equal(batch.y, batch.x[:, :, 0, 0, 0].long() % 7)


def test_a_data_set_renamed_is_an_edit_a_moved_own_file_is_not():
    """data.dataset was free to edit (a moved folder): digits -> mnist resumed without a word."""
    from hyperzoo.train import _config_edits

    config = tiny_config()
    meta = {"config": json.loads(json.dumps(config.to_dict()))}
    config.data.dataset = "mnist"
    assert [k for k, _, _ in _config_edits(meta, config)] == ["data.dataset"]
    meta["config"]["data"].update(dataset="/old/place/mine.npz", sha256="ab" * 32)
    config.data.dataset, config.data.sha256 = "/new/place/mine.npz", "ab" * 32
    assert _config_edits(meta, config) == []


def test_train_fused_reaches_the_trainers_optimizers(tmp_path, monkeypatch):
    """A new run records fused: true and must train with it; a folder from before (no key) must
    resume with the per-tensor Adam (a mutation that dropped the argument survived every test)."""
    import hyperzoo.train as trainer

    made = []

    def spy(*args, **kwargs):
        optimizers = make(*args, **kwargs)
        made.append({name: o.defaults["fused"] for name, o in optimizers.items()})
        return optimizers

    make = trainer.make_optimizers
    monkeypatch.setattr(trainer, "make_optimizers", spy)
    train(tiny_config("train.steps=1", "train.threads=1"), tmp_path, argv=["x"], progress=False)
    assert made[-1] == {"model": True}
    text = (tmp_path / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(text.replace("steps: 1", "steps: 2").replace("  fused: true\n", ""))
    train(None, tmp_path, resume=True, argv=["y"], progress=False)
    assert made[-1] == {"model": None}


def test_a_second_moment_gone_infinite_stops_the_step_and_a_large_one_does_not():
    """exp_avg_sq at inf makes Adam's update 0 (the run stalls in silence); at 1e30, finite, a
    2-norm over it overflowed (the check keeps the squares apart: `_state_tensors`)."""
    from hyperzoo.train import step_optimizers

    lin = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(lin.parameters(), fused=True)
    x = torch.randn(4, 3)
    assert step_optimizers(lin, {"model": opt}, {"loss": lin(x).sum()}) is None
    stopped = "the optimizer state of group 'model' became NaN or infinite"
    for value, said in ((1e30, None), (float("inf"), stopped)):
        opt.state[lin.weight]["exp_avg_sq"].fill_(value)
        assert step_optimizers(lin, {"model": opt}, {"loss": lin(x).sum()}) == said


def test_config_edits_from_an_old_checkpoint_and_of_an_added_key():
    """A checkpoint from before configs were stored says nothing; a key config.yaml gained is an
    edit (a mutation comparing the checkpoint's keys alone survived)."""
    from hyperzoo.train import _config_edits

    config = tiny_config()
    assert _config_edits({"step": 3}, config) == []
    meta = {"config": json.loads(json.dumps(config.to_dict()))}
    lam = meta["config"]["method"].pop("lam")
    assert _config_edits(meta, config) == [("method.lam", None, lam)]


def test_one_input_per_network_into_a_batch_norm_is_refused_before_the_run_folder(tmp_path):
    """BatchNorm1d in training mode on one input per network raised torch's ValueError at the
    first step, the run folder already written; a BatchNorm2d over an 8×8 map needs no second."""
    with pytest.raises(ConfigError, match=r"batch norm '2' .* train.images_per_noise 1 \(per process\) "
                                          r"it sees one value per channel: use at least 2"):
        train(tiny_config("target.name=tests.helpers:NormNet", "train.images_per_noise=1"), tmp_path / "run",
              argv=["x"], progress=False, trust_code=True)
    assert not (tmp_path / "run").exists()
    conv = ["target.name=resnet_cifar", "target.kwargs={depth: 8, widths: [4, 6, 8], in_channels: 1}"]
    train(tiny_config(*conv, "train.images_per_noise=1", "train.steps=1"), tmp_path / "conv", argv=["x"],
          progress=False)

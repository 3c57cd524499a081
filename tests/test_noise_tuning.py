import json

import pytest
import torch
from safetensors.torch import load_file
from torch.func import functional_call
from typer.testing import CliRunner

from hyperzoo.cli import app
from hyperzoo.config import ConfigError, load_config
from hyperzoo.data import load_dataset
from hyperzoo.noise_tuning import RECORD, parse_sigmas, tune_noise_scale
from hyperzoo.runs import RunError, read_config
from hyperzoo.session import load_run
from hyperzoo.train import train

NOISE = ["method.name=gaussian_noise", "method.sigma=0.05", "train.noise_batch=1",
         "train.images_per_noise=32", "train.lr=0.01", "train.steps=60", "train.val_every=60",
         "train.val_networks=2",
         "train.checkpoint_every=30", "data.val_limit=60"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("noise") / "run"
    torch.manual_seed(0)
    train(load_config(None, NOISE), run, argv=["x"], progress=False)
    return run


def copy_run(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def ensemble_nll_by_hand(run, sigma: float, networks: int, seed: int) -> float:
    """The mean-probability ensemble's NLL on the val split, one plain module call per network
    (probabilities clamped at 1e-12 as `evaluation.nll` documents: σ = 3 makes some zero)."""
    s = load_run(run)
    s.method.sigma.fill_(sigma)
    w = s.method.sample(networks, generator=torch.Generator().manual_seed(seed))
    data = load_dataset("digits", "val")
    probs = torch.stack([
        functional_call(s.target.module, {k: v[i] for k, v in w.items()}, (data.x,)).softmax(-1)
        for i in range(networks)]).mean(0)
    return -probs[torch.arange(len(data)), data.y].clamp_min(1e-12).log().mean().item()


def test_tuning_picks_the_sigma_of_least_validation_nll_and_writes_it(trained, tmp_path):
    run = copy_run(trained, tmp_path / "run")
    before = load_file(str(run / "checkpoint.safetensors"))
    grid = [0.0, 0.1, 3.0]
    r = tune_noise_scale(run, grid, networks=4, seed=5)
    by_hand = {s: ensemble_nll_by_hand(trained, s, 4, 5) for s in grid}
    assert r["sigma"] == min(by_hand, key=by_hand.get)
    assert r["sigma"] != 3.0  # a scale three times each tensor's RMS destroys the network
    for row in r["grid"]:
        assert row["ensemble_nll"] == pytest.approx(by_hand[row["sigma"]], rel=1e-5)
    assert json.loads((run / RECORD).read_text())["sigma"] == r["sigma"] and r["split"] == "val"
    # Only σ changed in the checkpoint; evaluation and resumed training use it.
    after = load_file(str(run / "checkpoint.safetensors"))
    assert after.keys() == before.keys()
    assert after["model.sigma"].item() == r["sigma"]
    assert all(torch.equal(before[k], after[k]) for k in before if k != "model.sigma")
    assert load_run(run).method.sigma.item() == r["sigma"]
    from hyperzoo.verify import verify_run

    assert verify_run(run)[0] == []  # the content hash was rewritten with σ
    # config.yaml says the σ the checkpoint samples with (it kept the one trained with), and the
    # checkpoint's record of the config agrees: a resume notes no edit.
    assert read_config(run).method["sigma"] == r["sigma"] != read_config(trained).method["sigma"]
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 60", "steps: 62"))
    train(None, run, resume=True, argv=["x"], progress=False)
    assert load_run(run).method.sigma.item() == r["sigma"]
    assert "changed since the checkpoint" not in (run / "command.txt").read_text()


def nll_by_sigma(monkeypatch, nll) -> list[float]:
    """Make tuning's ensemble NLL ``nll(sigma, metrics)`` (the σ of the networks just sampled);
    returns the list of σ sampled, filled as tuning runs."""
    import hyperzoo.noise_tuning as tuning

    sampled_at, sample, metrics = [], tuning.sample_networks, tuning.ensemble_metrics

    def noting_sigma(session, *args):
        sampled_at.append(float(session.method.sigma))
        return sample(session, *args)

    def replaced(probs, y):
        m = metrics(probs, y)
        return {**m, "ensemble_nll": nll(sampled_at[-1], m)}
    monkeypatch.setattr(tuning, "sample_networks", noting_sigma)
    monkeypatch.setattr(tuning, "ensemble_metrics", replaced)
    return sampled_at


def test_a_sigma_whose_nll_is_nan_is_not_chosen(trained, tmp_path, monkeypatch):
    """min() took a NaN NLL where it came first in the grid."""
    run = copy_run(trained, tmp_path / "run")
    sampled_at = nll_by_sigma(monkeypatch, lambda s, m: float("nan") if s == 0.0 else m["ensemble_nll"])
    assert tune_noise_scale(run, [0.0, 0.1], networks=4, seed=5)["sigma"] == 0.1
    assert sampled_at == [0.0, 0.1]


def test_tuning_on_another_cpu_keeps_the_cpu_that_trained_the_run(trained, tmp_path, monkeypatch):
    from hyperzoo import runs

    run = copy_run(trained, tmp_path / "run")
    trained_on = runs.checkpoint_meta(run)["machine"]
    monkeypatch.setattr(runs, "machine", lambda device=None: "Another CPU, AVX2, x86_64")
    tune_noise_scale(run, [0.0, 0.1], networks=2)
    assert runs.checkpoint_meta(run)["machine"] == trained_on == runs.training_time(run)["train_machine"]


def test_resume_after_tuning_matches_an_untuned_resume_except_sigma(trained, tmp_path):
    """Re-saving the checkpoint keeps optimizer and RNG state: 2 more steps are the same."""
    a, b = copy_run(trained, tmp_path / "a"), copy_run(trained, tmp_path / "b")
    tune_noise_scale(b, [0.2], networks=2)
    for run in (a, b):
        (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 60", "steps: 62"))
        train(None, run, resume=True, argv=["x"], progress=False)
    ta, tb = load_file(str(a / "checkpoint.safetensors")), load_file(str(b / "checkpoint.safetensors"))
    assert tb["model.sigma"].item() == 0.2
    assert all(torch.equal(ta[k], tb[k]) for k in ta if k != "model.sigma")


def test_tuning_needs_a_gaussian_noise_run(tmp_path):
    run = tmp_path / "run"
    train(load_config(None, ["method.name=ensemble", "method.size=1", "train.noise_batch=1",
                             "train.steps=1", "train.images_per_noise=4", "data.val_limit=10"]),
          run, argv=["x"], progress=False)
    with pytest.raises(RunError, match="tuning the noise scale needs method 'gaussian_noise'"):
        tune_noise_scale(run, [0.1])
    # σ chosen on the examples evaluate scores, or the ones trained on, was called validation.
    for split in ("test", "train"):
        with pytest.raises(ConfigError, match=f"--split '{split}': tune-noise chooses σ on held-out"):
            tune_noise_scale(run, [0.1], split=split)


@pytest.mark.parametrize("text, message", [("0.1,x", "must be comma-separated numbers"),
                                           (",", "the σ grid is empty"),
                                           ("0.1,-1", "σ = -1.0 is not a non-negative number")])
def test_bad_grids_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_sigmas(text)


def test_cli_tune_noise(trained, tmp_path):
    run = copy_run(trained, tmp_path / "run")
    r = CliRunner().invoke(app, ["tune-noise", str(run), "--sigmas", "0,0.05", "--networks", "2"])
    assert r.exit_code == 0, r.output
    assert "<- chosen" in r.output and "wrote σ =" in r.output
    r = CliRunner().invoke(app, ["tune-noise", str(run), "--sigmas", "-1"])
    assert r.exit_code == 1 and r.output.strip() == "error: σ = -1.0 is not a non-negative number"


def test_tuning_refuses_a_run_being_trained(trained, tmp_path):
    from hyperzoo.runs import lock_run

    run = copy_run(trained, tmp_path / "run")
    before = (run / "checkpoint.safetensors").read_bytes()
    with lock_run(run), pytest.raises(RunError, match="being trained by another process"):
        tune_noise_scale(run, [0.1], networks=2)
    assert (run / "checkpoint.safetensors").read_bytes() == before


def test_tuning_keeps_every_training_process_generators(trained, tmp_path):
    """A run trained under torchrun, or on a GPU, keeps each generator through tune-noise."""
    from hyperzoo import runs

    run = copy_run(trained, tmp_path / "run")
    s = load_run(run)
    other = torch.Generator().manual_seed(5).get_state()
    gpu = torch.arange(16, dtype=torch.uint8)  # a GPU's generator state, tuned on a CPU
    runs.save_checkpoint(run, s.method, {}, runs.checkpoint_step(run), {}, global_rng=True,
                         process_rng={"rank1.torch_global": other, "cuda0": gpu}, extra={"processes": 2})
    tune_noise_scale(run, [0.2], networks=2)
    saved = load_file(str(run / "checkpoint.safetensors"))
    assert saved["model.sigma"].item() == 0.2 and torch.equal(saved["rng.rank1.torch_global"], other)
    assert torch.equal(saved["rng.cuda0"], gpu)
    assert runs.checkpoint_meta(run)["processes"] == 2


def test_a_tuned_sigma_survives_a_resume_of_a_run_that_keeps_its_best_model(tmp_path):
    """With train.keep_best, evaluate reads best.safetensors and a resume continues from
    checkpoint.safetensors: σ goes into both, so later best models keep it."""
    from hyperzoo.runs import BEST, CHECKPOINT

    run = tmp_path / "run"
    cfg = [*NOISE, "train.steps=20", "train.val_every=10", "train.checkpoint_every=10",
           "train.keep_best=true"]
    train(load_config(None, cfg), run, argv=["x"], progress=False)
    tune_noise_scale(run, [0.0], networks=2)
    assert all(load_file(str(run / name))["model.sigma"].item() == 0.0 for name in (BEST, CHECKPOINT))
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 20", "steps: 40"))
    train(None, run, resume=True, argv=["x"], progress=False)
    assert all(load_file(str(run / name))["model.sigma"].item() == 0.0 for name in (BEST, CHECKPOINT))


def test_a_run_in_training_is_refused_before_the_work(trained, tmp_path, monkeypatch):
    """The lock was taken only to write σ: the whole grid ran first, then the command failed."""
    import shutil

    from hyperzoo import noise_tuning
    from hyperzoo.runs import lock_run

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    monkeypatch.setattr(noise_tuning, "sample_networks", lambda *a, **k: pytest.fail("sampled"))
    with lock_run(run), pytest.raises(RunError, match="is being trained by another process"):
        tune_noise_scale(run, [0.1, 0.2], networks=2)


def test_a_folder_that_is_not_a_run_gets_no_lock_file(tmp_path):
    with pytest.raises(RunError, match="is not a hyperzoo run folder"):
        tune_noise_scale(tmp_path, [0.1], networks=2)
    assert list(tmp_path.iterdir()) == []


def test_tuning_leaves_the_callers_random_state_alone(trained, tmp_path):
    """Reopening the run reseeded torch's global generator (experiments/sweep.py calls it)."""
    run = copy_run(trained, tmp_path / "run")
    torch.manual_seed(123)
    expected = torch.randn(3)
    torch.manual_seed(123)
    tune_noise_scale(run, [0.0, 0.1], networks=2)
    assert torch.equal(torch.randn(3), expected)


def test_sigma_0_winning_is_said(trained, tmp_path, monkeypatch, capsys):
    """It chose σ = 0 by 1e-5 of NLL without a word: the baseline became N copies of one network."""
    run = copy_run(trained, tmp_path / "run")
    nll_by_sigma(monkeypatch, lambda s, m: 0.16039 if s == 0.0 else 0.16040)
    assert tune_noise_scale(run, [0.0, 0.005], networks=4, seed=5)["sigma"] == 0.0
    assert ("note: σ = 0 was best on the validation split (ensemble NLL 0.16039 against 0.16040 at "
            "σ = 0.005): every network the run samples is now the same one") in capsys.readouterr().err

import math
from pathlib import Path

import pytest
import torch

from hyperzoo.config import ConfigError, load_config
from hyperzoo.data import DataError
from hyperzoo.methods.toy_mixture import ToyMixtureConfig, mixture_density
from hyperzoo.toy import run_toy, toy_config
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run, export_networks

ROOT = Path(__file__).resolve().parents[1]


def test_mixture_density_integrates_to_one():
    cfg = ToyMixtureConfig()
    g = torch.linspace(-6, 6, 601, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    dens = mixture_density(torch.stack([xx, yy], -1), torch.tensor(cfg.centers, dtype=torch.float64),
                           torch.tensor(cfg.weights, dtype=torch.float64), cfg.sigma)
    assert abs(dens.sum().item() * (12 / 600) ** 2 - sum(cfg.weights)) < 1e-3
    # At a centre far from the others: its own weight over 2πσ².
    one = mixture_density(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), 0.5)
    assert math.isclose(one.item(), 1 / (2 * math.pi * 0.25), rel_tol=1e-6)


def test_the_packaged_setting_is_the_experiments_config():
    assert load_config(ROOT / "experiments" / "toy.yaml") == toy_config()


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_toy_path_reaches_peaks_and_thins_out_in_low_density(tmp_path, one_thread):
    out = tmp_path / "toy"
    summary = run_toy(out, progress=False)
    assert (out / "toy.png").stat().st_size > 10_000
    # The path reaches several peaks' cores, sits far above the box's mean density... Which
    # peaks, and how close, depends on the seed and even on the CPU's rounding (the problem is
    # not convex): seed 0 came within σ of 4 peaks on one Xeon and of 2 (a third at 1.5 σ) on
    # another, so the count is taken at 2 σ.
    sigma = ToyMixtureConfig().sigma
    assert sum(d < 2 * sigma for d in summary["distance_to_nearest_sample_per_peak"]) >= 3
    assert summary["mean_density"] > 3 * summary["mean_density_uniform_box"]
    # ...and samples are spaced further apart where the density is low.
    assert summary["rank_corr_density_vs_spacing"] < 0
    # An ordinary run folder: its points export as networks (nn.Linear(1, 2) weights)...
    paths = export_networks(out, 3, tmp_path / "nets")
    assert len(paths) == 3
    # ...and there is no data set to evaluate on: one line.
    with pytest.raises(DataError, match="trained without data"):
        evaluate_run(out, 5, progress=False)


@pytest.mark.parametrize(("sets", "message"), [
    (["data.dataset=digits"], "method 'toy_mixture' trains without data: set data.dataset to 'none'"),
    (["target.name=digits_net", "data.dataset=none"], "its target must be 'point'"),
    (["method.name=deutsch", "data.dataset=none", "target.name=point"], "method 'deutsch' needs a data set"),
    (["train.keep_best=true"], "need a data set; data.dataset is 'none'"),
])
def test_mismatched_settings_fail_in_one_line_before_any_folder(tmp_path, sets, message):
    base = ["target.name=point", "data.dataset=none", "method.name=toy_mixture"]
    with pytest.raises(ConfigError, match=message):
        train(load_config(None, [*base, *sets]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_run_shorter_than_the_ramp_says_where_its_lambda_ends(capsys):
    from hyperzoo.methods.toy_mixture import ToyMixture
    from hyperzoo.targets import TargetNet, build_target

    method = ToyMixture(TargetNet(build_target("point"), (1,)), ToyMixtureConfig())
    method.check_training(8, steps=100)
    assert "λ ends at 0.0235, not method.lam 0.5" in capsys.readouterr().err
    method.check_training(8, steps=3000)
    assert capsys.readouterr().err == ""


def test_the_toy_commands_take_a_thread_count(tmp_path):
    """Without --set they could not follow the README's advice for shared cores (train.threads=1)."""
    import yaml
    from typer.testing import CliRunner

    from hyperzoo.cli import app

    r = CliRunner().invoke(app, ["toy", "--steps", "2", "--threads", "1", "--out", str(tmp_path / "t"),
                                 "--quiet"])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "t" / "config.yaml").read_text())["train"]["threads"] == 1
    r = CliRunner().invoke(app, ["toy-regression", "--steps", "2", "--threads", "0", "--out",
                                 str(tmp_path / "r")])
    assert r.exit_code == 1 and "--threads must be between 1 and 4096, got 0" in r.output


def test_an_interrupted_toy_run_is_finished_by_the_command_run_again(tmp_path, capsys):
    """Ctrl-C left the folder 'already holding a trained run' to `hyperzoo toy`, and `train
    --resume` finished it without toy.png and toy.json."""
    from hyperzoo.runs import RunError, checkpoint_step

    run = tmp_path / "t"
    train(toy_config(2, 0, 2), run, argv=["x"], progress=False)  # as stopped at step 2 of 4
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("steps: 2", "steps: 4"))
    run_toy(run, steps=4, seed=0, progress=False, threads=1)
    assert checkpoint_step(run) == 4 and (run / "toy.png").is_file() and (run / "toy.json").is_file()
    assert "threads: 1" in (run / "config.yaml").read_text()  # this command's --threads, not the first's
    assert "holds this run, stopped at step 2 of 4: continuing it" in capsys.readouterr().err
    (run / "toy.png").unlink()
    run_toy(run, steps=4, seed=0, progress=False, threads=1)  # finished: plotted again, not trained
    assert checkpoint_step(run) == 4 and (run / "toy.png").is_file()
    with pytest.raises(RunError, match=r"holds another run \(method toy_mixture, target point, data none, 4 "
                                       r"steps, seed 0\) than hyperzoo toy trains with these options"):
        run_toy(run, steps=8, seed=0, progress=False, threads=1)

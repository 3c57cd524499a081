import torch

from hyperzoo.toy_regression import ToyRegressionConfig, cubic_data, run_toy_regression


def test_cubic_data_lies_in_range_with_the_stated_noise():
    cfg = ToyRegressionConfig(n_points=4000)
    x, y = cubic_data(cfg)
    assert x.shape == (4000, 1) and y.shape == (4000,)
    assert x.abs().max() <= cfg.x_range
    assert abs((y - x[:, 0] ** 3).std().item() - cfg.noise_std) < 0.15


def test_short_run_fits_the_points_and_writes_the_figure(tmp_path):
    torch.set_num_threads(1)
    cfg = ToyRegressionConfig(steps=300, generator_hidden=(64, 64), ensemble_sizes=(10, 50))
    s = run_toy_regression(tmp_path, cfg, progress=False)
    assert (tmp_path / "regression.png").stat().st_size > 10_000
    _, y = cubic_data(cfg)
    # The ensemble mean explains most of the variance of the targets (y ranges over ±64).
    assert s["train_mse_of_mean"] < 0.2 * y.var().item()
    assert s["log"][-1]["mse"] < 0.3 * s["log"][0]["mse"]

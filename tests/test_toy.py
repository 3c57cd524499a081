import torch

from hyperzoo.toy import ToyConfig, mixture_density, run_toy


def test_mixture_density_integrates_to_one():
    cfg = ToyConfig()
    g = torch.linspace(-6, 6, 601, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    dens = mixture_density(torch.stack([xx, yy], -1), cfg)
    assert abs(dens.sum().item() * (12 / 600) ** 2 - sum(cfg.weights)) < 1e-3


def test_toy_path_reaches_peaks_and_thins_out_in_low_density(tmp_path):
    summary = run_toy(tmp_path, ToyConfig(), progress=False)
    assert (tmp_path / "toy.png").stat().st_size > 10_000
    # The path runs through several peaks (which ones depends on the seed: the problem is
    # not convex), sits far above the box's mean density...
    assert summary["peaks_visited"] >= 3
    assert summary["mean_density"] > 3 * summary["mean_density_uniform_box"]
    # ...and samples are spaced further apart where the density is low.
    assert summary["rank_corr_density_vs_spacing"] < 0

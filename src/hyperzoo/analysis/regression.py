"""Regression runs with one input: predictive mean ± 3 std of sampled networks over the data range
and beyond it (seed 002 Fig. 2), where sampled functions should agree on the data and disagree
away from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from hyperzoo.data import Dataset
from hyperzoo.data.cubic import cubic
from hyperzoo.errors import ConfigError
from hyperzoo.evaluation import predict, regression_metrics
from hyperzoo.figures import save_figure
from hyperzoo.session import Session, sample_networks
from hyperzoo.weights import WeightBatch

# The figure extends the training inputs' range by this share of its width on each side; the
# seed's own set is drawn over the seed's [−6, 6].
MARGIN = 0.5
SEED_RANGE = {"cubic": (-6.0, 6.0)}
ENSEMBLE_SIZES = (10, 100, 1000)


def grid_over(train: Dataset, points: int = 241, builtin: str | None = None) -> torch.Tensor:
    """``points`` evenly spaced inputs (G,) over the training range widened by ``MARGIN``, or
    the seed's range of the built-in set ``builtin``."""
    lo, hi = train.x.min().item(), train.x.max().item()
    pad = MARGIN * (hi - lo)
    lo, hi = SEED_RANGE.get(builtin or "", (lo - pad, hi + pad))
    return torch.linspace(lo, hi, points)


def predictive_curves(session: Session, weights: WeightBatch, grid: torch.Tensor, sizes: list[int]
                      ) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """For each ensemble size n: the mean and std over the first n networks of ``weights`` of the
    prediction at ``grid`` (G,), each (G,)."""
    preds = predict(session.target, weights, grid[:, None])[..., 0]  # (N, G)
    return {n: (preds[:n].mean(0), preds[:n].std(0)) for n in sizes}


def regression_summary(session: Session, train: Dataset, test: Dataset, networks: int, seed: int
                       ) -> tuple[dict[str, Any], dict[int, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """Metrics of ``networks`` sampled networks on ``test`` and ``train``, their predictive
    spread inside vs outside the training range, and the figure's curves (ensembles of 10, 100,
    1000 networks, capped at ``networks``) with their grid."""
    if tuple(train.input_shape) != (1,):
        raise ConfigError(f"the regression report draws predictions over one input; data set "
                          f"{train.name!r} has inputs of shape {train.input_shape}: use hyperzoo evaluate")
    if networks < 2:
        raise ConfigError(f"--networks must be at least 2 for a predictive spread, got {networks}")
    sizes = sorted({min(s, networks) for s in ENSEMBLE_SIZES} | {networks})
    weights = sample_networks(session, networks, seed)
    # The built-in set, not any set of that name: a file of your own called cubic.npz got the
    # seed's range and an error against y = x³.
    builtin = session.config.data.dataset if session.config.data.dataset in SEED_RANGE else None
    grid = grid_over(train, builtin=builtin)
    curves = predictive_curves(session, weights, grid, sizes)
    lo, hi = train.x.min().item(), train.x.max().item()
    inside = (grid >= lo) & (grid <= hi)
    mean, std = curves[networks]
    summary: dict[str, Any] = {
        "dataset": test.name, "networks": networks, "seed": seed,
        "test": regression_metrics(predict(session.target, weights, test.x)[..., 0], test.y),
        "train": regression_metrics(predict(session.target, weights, train.x)[..., 0], train.y),
        "training_input_range": [lo, hi],
        "mean_std_inside_data_range": std[inside].mean().item(),
        "mean_std_outside_data_range": std[~inside].mean().item(),
    }
    if builtin == "cubic":  # the function is known: the error of the mean against it
        summary["rmse_to_true_function_inside"] = (mean - cubic(grid))[inside].pow(2).mean().sqrt().item()
    return summary, curves, grid


def plot_regression(curves: dict[int, tuple[torch.Tensor, torch.Tensor]], grid: torch.Tensor,
                    train: Dataset, out: Path, truth: bool = False) -> Path:
    """One panel per ensemble size: training points, predictive mean ± 3 std, the region
    without training data shaded; ``truth`` adds y = x³ (the cubic set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.8), sharey=True,
                             squeeze=False)
    g = grid.numpy()
    lo, hi = train.x.min().item(), train.x.max().item()
    y = train.y.numpy()
    span = y.max() - y.min()
    for ax, (n, (mean, std)) in zip(axes[0], curves.items(), strict=True):
        m, s = mean.numpy(), std.numpy()
        ax.fill_between(g, m - 3 * s, m + 3 * s, color="C0", alpha=0.25, label="mean ± 3 std")
        ax.plot(g, m, color="C0", label="predictive mean")
        if truth:
            ax.plot(g, cubic(grid).numpy(), color="k", ls="--", lw=1, label="y = x³")
        ax.scatter(train.x[:, 0].numpy(), y, color="C3", s=14, zorder=3, label="training data")
        ax.axvspan(g[0], lo, color="0.92", zorder=0, label="no training data")
        ax.axvspan(hi, g[-1], color="0.92", zorder=0)
        ax.set_xlim(g[0], g[-1])
        ax.set_ylim(y.min() - 1.5 * span, y.max() + 1.5 * span)
        ax.set_title(f"{n} sampled networks")
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("y")
    axes[0][0].legend(loc="upper left", fontsize=8)
    save_figure(fig, out, dpi=100)
    return out

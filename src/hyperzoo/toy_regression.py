"""The 1-D regression toy of seed 002 §4.4: HyperGAN on 20 noisy points of y = x³.

Twenty points x ~ U[−4, 4], y = x³ + ε with ε ~ N(0, 3²); the target is one hidden layer
of 100 ReLU units; HyperGAN with latent dimension 64 and the regression (MSE) loss. The
figure shows the predictive mean ± 3 std of 10, 100 and 1000 sampled networks over
[−6, 6]: where there is no data, the sampled functions should disagree.

Targets are standardised for training (y/σ_y) so that the MSE starts near 1 and the
latent discriminator's term is not drowned by the cubic's range; predictions are scaled
back for the figure and the numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from hyperzoo.methods.hypergan import HyperGAN, HyperGANConfig
from hyperzoo.targets import TargetNet
from hyperzoo.train import step_optimizers


@dataclass(frozen=True)
class ToyRegressionConfig:
    n_points: int = 20
    x_range: float = 4.0
    noise_std: float = 3.0
    hidden: int = 100
    z_dim: int = 64
    code_size: int = 64
    generator_hidden: tuple[int, ...] = (256, 256)
    beta: float = 1.0
    code_share: float = 0.3
    steps: int = 1500
    noise_batch: int = 32
    lr: float = 3e-4
    seed: int = 0
    ensemble_sizes: tuple[int, ...] = (10, 100, 1000)


def cubic_data(cfg: ToyRegressionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_points`` pairs (x, x³ + ε), each of shape (n_points, 1) and (n_points,)."""
    g = torch.Generator().manual_seed(cfg.seed)
    x = (torch.rand(cfg.n_points, 1, generator=g) * 2 - 1) * cfg.x_range
    y = x[:, 0] ** 3 + cfg.noise_std * torch.randn(cfg.n_points, generator=g)
    return x, y


def regression_target(cfg: ToyRegressionConfig) -> TargetNet:
    """1 → ``hidden`` ReLU → 1, as a `TargetNet` over a plain module."""
    return TargetNet(nn.Sequential(nn.Linear(1, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1)), (1,))


def train_regression(cfg: ToyRegressionConfig, progress: bool = True
                     ) -> tuple[HyperGAN, float, list[dict[str, float]]]:
    """Train HyperGAN on the cubic; returns the method, the target scale σ_y and a log."""
    torch.manual_seed(cfg.seed)
    x, y = cubic_data(cfg)
    scale = y.std().item()
    hidden = list(cfg.generator_hidden)
    method = HyperGAN(regression_target(cfg), HyperGANConfig(
        z_dim=cfg.z_dim, code_size=cfg.code_size, mixer_hidden=hidden, generator_hidden=hidden,
        discriminator_hidden=hidden, beta=cfg.beta, pretrain_steps=0, task="regression",
        code_share=cfg.code_share))
    optimizers = {name: torch.optim.Adam(params, lr=cfg.lr)
                  for name, params in method.optimizer_groups().items()}
    g = torch.Generator().manual_seed(cfg.seed + 1)
    # Every network sees all points: (N, M, 1) and (N, M).
    xs = x.expand(cfg.noise_batch, -1, -1)
    ys = (y / scale).expand(cfg.noise_batch, -1)
    log = []
    bar = tqdm(range(cfg.steps), disable=not progress, desc="toy-regression", dynamic_ncols=True)
    for step in bar:
        out = method.training_loss(xs, ys, step, generator=g)
        step_optimizers(method, optimizers, out)
        if step % 50 == 0 or step == cfg.steps - 1:
            row = {"step": step + 1, "mse": out["mse"].item() * scale**2,
                   "discriminator": out["discriminator"].item()}
            log.append(row)
            bar.set_postfix(mse=f"{row['mse']:.4g}")
    return method.eval(), scale, log


@torch.no_grad()
def predictive(method: HyperGAN, scale: float, grid: torch.Tensor, n: int, seed: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over ``n`` sampled networks of the prediction at ``grid`` (G,) → (G,), (G,)."""
    weights = method.sample(n, generator=torch.Generator().manual_seed(seed))
    preds = method.target(weights, grid[:, None])[..., 0] * scale  # (n, G)
    return preds.mean(0), preds.std(0)


def plot_regression(cfg: ToyRegressionConfig, curves: dict[int, tuple[torch.Tensor, torch.Tensor]],
                    grid: torch.Tensor, data: tuple[torch.Tensor, torch.Tensor], out: Path) -> Path:
    """One panel per ensemble size: true function, data, predictive mean ± 3 std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.8), sharey=True)
    g = grid.numpy()
    for ax, (n, (mean, std)) in zip(axes, curves.items(), strict=True):
        m, s = mean.numpy(), std.numpy()
        ax.fill_between(g, m - 3 * s, m + 3 * s, color="C0", alpha=0.25, label="mean ± 3 std")
        ax.plot(g, m, color="C0", label="predictive mean")
        ax.plot(g, g**3, color="k", ls="--", lw=1, label="y = x³")
        ax.scatter(data[0][:, 0].numpy(), data[1].numpy(), color="C3", s=14, zorder=3, label="data")
        ax.axvspan(-6, -cfg.x_range, color="0.92", zorder=0, label="outside the training data")
        ax.axvspan(cfg.x_range, 6, color="0.92", zorder=0)
        ax.set_xlim(-6, 6)
        ax.set_ylim(-250, 250)
        ax.set_title(f"{n} sampled networks")
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run_toy_regression(out: Path, cfg: ToyRegressionConfig | None = None, progress: bool = True
                       ) -> dict[str, Any]:
    """Train, plot ``regression.png`` and write ``regression.json`` into ``out``."""
    from hyperzoo.weights import atomic_write_json

    cfg = cfg or ToyRegressionConfig()
    method, scale, log = train_regression(cfg, progress)
    data = cubic_data(cfg)
    grid = torch.linspace(-6, 6, 241)
    curves = {n: predictive(method, scale, grid, n, cfg.seed + 2) for n in cfg.ensemble_sizes}
    out = Path(out)
    plot_regression(cfg, curves, grid, data, out / "regression.png")
    inside = grid.abs() <= cfg.x_range
    mean, std = curves[max(cfg.ensemble_sizes)]
    summary = {
        "config": asdict(cfg), "log": log,
        "train_mse_of_mean": (predictive(method, scale, data[0][:, 0], max(cfg.ensemble_sizes),
                                         cfg.seed + 2)[0] - data[1]).pow(2).mean().item(),
        "rmse_to_true_function_inside": (mean - grid**3)[inside].pow(2).mean().sqrt().item(),
        "mean_std_inside_data_range": std[inside].mean().item(),
        "mean_std_outside_data_range": std[~inside].mean().item(),
    }
    atomic_write_json(out / "regression.json", summary)
    return summary

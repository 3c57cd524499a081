"""The toy problem of seed 000 §4.1: a 1-D noise mapped onto a 2-D Gaussian mixture.

A hypernetwork z ∈ [-1, 1] → R² is trained for high mixture density and high entropy
(Kozachenko–Leonenko with d = 1), with an ℓ2 penalty instead of gauge fixing since a point
has no symmetries. Its image is a path through the peaks; where the path must cross low
density, the samples thin out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from hyperzoo.diversity import kl_entropy, nearest_neighbour_distances
from hyperzoo.schedules import geometric_ramp


@dataclass(frozen=True)
class ToyConfig:
    centers: tuple[tuple[float, float], ...] = ((-2.0, -1.5), (0.0, 2.0), (2.0, -1.0),
                                                (-1.5, 1.2), (1.6, 1.4))
    weights: tuple[float, ...] = (0.25, 0.2, 0.25, 0.15, 0.15)
    sigma: float = 0.35
    hidden: tuple[int, ...] = (30, 10, 10)
    # λ grows from lam_start to lam: early on the entropy spreads the path, then the density
    # pulls it onto the peaks (a fixed λ often left the path folded onto one or two peaks).
    lam: float = 0.5
    lam_start: float = 0.02
    lam_warmup: int = 2000
    l2: float = 1e-3
    steps: int = 4000
    batch: int = 128
    lr: float = 3e-3
    seed: int = 0


def mixture_density(p: torch.Tensor, cfg: ToyConfig) -> torch.Tensor:
    """Density of the isotropic Gaussian mixture at points ``p`` (..., 2)."""
    c = torch.tensor(cfg.centers, dtype=p.dtype)
    w = torch.tensor(cfg.weights, dtype=p.dtype)
    sq = (p[..., None, :] - c).pow(2).sum(-1)  # (..., K)
    return (w * torch.exp(-sq / (2 * cfg.sigma**2))).sum(-1) / (2 * math.pi * cfg.sigma**2)


def toy_generator(cfg: ToyConfig) -> nn.Sequential:
    """MLP 1 → 30 → 10 → 10 → 2 with ReLU hidden layers."""
    sizes = (1, *cfg.hidden, 2)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def train_toy(cfg: ToyConfig, progress: bool = True) -> tuple[nn.Sequential, list[dict]]:
    """Minimise ``λ·E[-log p_mix(G(z))] − Ĥ[G(z)] + l2·E‖G(z)‖²`` (λ warmed up)."""
    torch.manual_seed(cfg.seed)
    gen = toy_generator(cfg)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr)
    log = []
    for step in tqdm(range(cfg.steps), disable=not progress, desc="toy"):
        z = torch.rand(cfg.batch, 1, generator=g) * 2 - 1
        p = gen(z)
        nll = -mixture_density(p, cfg).clamp_min(1e-30).log().mean()
        entropy = kl_entropy(p, d=1)
        lam = geometric_ramp(step, cfg.lam_start, cfg.lam, cfg.lam_warmup)
        loss = lam * nll - entropy + cfg.l2 * p.pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == cfg.steps - 1:
            log.append({"step": step + 1, "nll": nll.item(), "entropy": entropy.item()})
    return gen, log


@torch.no_grad()
def toy_path(gen: nn.Sequential, cfg: ToyConfig, n: int = 400) -> dict[str, torch.Tensor]:
    """Image of ``n`` evenly spaced z, the density there and nearest-neighbour distances."""
    z = torch.linspace(-1, 1, n)[:, None]
    p = gen(z)
    return {"z": z[:, 0], "points": p, "density": mixture_density(p, cfg),
            "nn_distance": nearest_neighbour_distances(p)}


def plot_toy(path: dict[str, torch.Tensor], cfg: ToyConfig, out: Path) -> None:
    """Heat map with the sampled path (coloured by z), and density vs spacing along z."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = path["points"].numpy()
    lo = [min(float(pts[:, i].min()), -3.0) - 0.5 for i in (0, 1)]
    hi = [max(float(pts[:, i].max()), 3.0) + 0.5 for i in (0, 1)]
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 300), torch.linspace(lo[1], hi[1], 300),
                            indexing="xy")
    dens = mixture_density(torch.stack([gx, gy], -1), cfg).numpy()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.2]})
    im = a.imshow(dens, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap="Greys")
    fig.colorbar(im, ax=a, label="mixture density", fraction=0.046, pad=0.02)
    a.plot(pts[:, 0], pts[:, 1], color="0.6", lw=0.6, zorder=1)
    z = path["z"].numpy()
    sc = a.scatter(pts[:, 0], pts[:, 1], c=z, cmap="viridis", s=7, zorder=2)
    fig.colorbar(sc, ax=a, label="z")
    a.set_title("G(z), 400 evenly spaced z")
    a.set_xlabel("x₁")
    a.set_ylabel("x₂")
    a.set_aspect("equal")
    b.plot(z, path["density"].numpy(), color="C0", label="mixture density at G(z)")
    b.set_xlabel("z")
    b.set_ylabel("mixture density", color="C0")
    b2 = b.twinx()
    b2.plot(z, path["nn_distance"].numpy(), color="C3", lw=0.8, label="nearest-neighbour distance")
    b2.set_ylabel("distance to nearest sample", color="C3")
    b.set_title("Mixture density and sample spacing along the path")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run_toy(out: Path, cfg: ToyConfig | None = None, progress: bool = True) -> dict:
    """Train, plot ``toy.png`` and write ``toy.json`` into ``out``; returns the summary."""
    from hyperzoo.weights import atomic_write_json

    cfg = cfg or ToyConfig()
    gen, log = train_toy(cfg, progress)
    path = toy_path(gen, cfg)
    out = Path(out)
    plot_toy(path, cfg, out / "toy.png")
    dens, nn_dist = path["density"], path["nn_distance"]
    # Spearman-style check of "density of samples is lower where the mixture is low".
    rank = lambda t: t.argsort().argsort().double()  # noqa: E731
    corr = torch.corrcoef(torch.stack([rank(dens), rank(nn_dist)]))[0, 1].item()
    nearest_peak = torch.cdist(torch.tensor(cfg.centers), path["points"]).min(1).values
    box = torch.rand(20000, 2, generator=torch.Generator().manual_seed(0)) * 7 - 3.5
    summary = {"config": asdict(cfg), "log": log,
               "mean_density": dens.mean().item(),
               "mean_density_uniform_box": mixture_density(box, cfg).mean().item(),
               "peaks_visited": int((torch.cdist(torch.tensor(cfg.centers), path["points"])
                                     .min(1).values < cfg.sigma).sum()),
               "rank_corr_density_vs_spacing": corr,
               "distance_to_nearest_sample_per_peak": nearest_peak.tolist()}
    atomic_write_json(out / "toy.json", summary)
    return summary

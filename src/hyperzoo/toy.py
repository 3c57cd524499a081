"""The toy problem of seed 000 §4.1: a 1-D noise mapped onto a 2-D Gaussian mixture.

The method ``toy_mixture`` (`hyperzoo.methods.toy_mixture`) trains through the common trainer
into an ordinary run folder (config, checkpoints, ``--resume``, ``sample``); this module holds
the seed's setting and the figure: the image of evenly spaced z, the density there and the
spacing of the samples. Where the path must cross low density, the samples thin out.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from hyperzoo.config import Config, from_dict
from hyperzoo.diversity import nearest_neighbour_distances
from hyperzoo.figures import save_figure
from hyperzoo.methods.toy_mixture import ToyMixture
from hyperzoo.session import load_run
from hyperzoo.train import train_or_continue
from hyperzoo.weights import atomic_write_json

# The seed's setting, also in experiments/toy.yaml (a test keeps them equal); the method's
# defaults are seed 000 §4.1's generator (MLP 30-10-10) and a mixture and λ ramp of our own
# (the seed gives no mixture's values).
CONFIG: dict[str, Any] = {
    "target": {"name": "point"},
    "data": {"dataset": "none"},
    "method": {"name": "toy_mixture"},
    "train": {"steps": 4000, "noise_batch": 128, "lr": 3e-3, "lr_schedule": "constant", "seed": 0,
              "checkpoint_every": 1000},
}


def toy_config(steps: int = 4000, seed: int = 0, threads: int | None = None) -> Config:
    """The seed's setting as a `Config`, with ``steps``, ``seed`` and ``threads`` (None: torch's)."""
    data = copy.deepcopy(CONFIG)
    data["train"].update(steps=steps, seed=seed, checkpoint_every=min(1000, steps), threads=threads)
    return from_dict(Config, data)


@torch.no_grad()
def toy_path(method: ToyMixture, n: int = 400) -> dict[str, torch.Tensor]:
    """Image of ``n`` evenly spaced z, the density there and nearest-neighbour distances."""
    z = torch.linspace(-1, 1, n)[:, None]
    p = method.points(z)
    return {"z": z[:, 0], "points": p, "density": method.density(p),
            "nn_distance": nearest_neighbour_distances(p)}


def plot_toy(path: dict[str, torch.Tensor], method: ToyMixture, out: Path) -> None:
    """Heat map with the sampled path (coloured by z), and density vs spacing along z."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = path["points"].numpy()
    lo = [min(float(pts[:, i].min()), -3.0) - 0.5 for i in (0, 1)]
    hi = [max(float(pts[:, i].max()), 3.0) + 0.5 for i in (0, 1)]
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 300), torch.linspace(lo[1], hi[1], 300),
                            indexing="xy")
    dens = method.density(torch.stack([gx, gy], -1)).numpy()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1, 1.2]})
    im = a.imshow(dens, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap="Greys")
    fig.colorbar(im, ax=a, label="mixture density", orientation="horizontal", fraction=0.05, pad=0.14)
    a.plot(pts[:, 0], pts[:, 1], color="0.6", lw=0.6, zorder=1)
    z = path["z"].numpy()
    sc = a.scatter(pts[:, 0], pts[:, 1], c=z, cmap="viridis", s=7, zorder=2)
    fig.colorbar(sc, ax=a, label="z (noise)", fraction=0.046, pad=0.03)
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
    save_figure(fig, out, dpi=110)


def run_toy(out: str | Path, steps: int = 4000, seed: int = 0, progress: bool = True,
            argv: list[str] | None = None, threads: int | None = None) -> dict[str, Any]:
    """Train into the new run folder ``out`` (or finish the interrupted toy run there), then plot
    ``toy.png`` and write ``toy.json`` there; returns the summary."""
    start = time.perf_counter()
    out = Path(out)
    train_or_continue(toy_config(steps, seed, threads), out, "hyperzoo toy", argv=argv, progress=progress)
    # The analysis on the CPU, whatever device trained it: its draws and plots are CPU tensors.
    method = load_run(out, device="cpu").method
    assert isinstance(method, ToyMixture)
    path = toy_path(method)
    plot_toy(path, method, out / "toy.png")
    dens, nn_dist = path["density"], path["nn_distance"]
    # Spearman-style check of "density of samples is lower where the mixture is low".
    rank = lambda t: t.argsort().argsort().double()  # noqa: E731
    corr = torch.corrcoef(torch.stack([rank(dens), rank(nn_dist)]))[0, 1].item()
    distance = torch.cdist(method.centers, path["points"]).min(1).values
    box = torch.rand(20000, 2, generator=torch.Generator().manual_seed(0)) * 7 - 3.5
    summary = {"run": str(out.resolve()), "steps": steps, "seed": seed,  # absolute, as other results
               "mean_density": dens.mean().item(),
               "mean_density_uniform_box": method.density(box).mean().item(),
               "peaks_visited": int((distance < method.config.sigma).sum()),
               "rank_corr_density_vs_spacing": corr,
               "distance_to_nearest_sample_per_peak": distance.tolist(),
               "seconds": round(time.perf_counter() - start, 1)}
    atomic_write_json(out / "toy.json", summary)
    return summary

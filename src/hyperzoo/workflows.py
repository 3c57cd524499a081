"""What the CLI does after training: evaluate a run, export its networks."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from hyperzoo.analysis.ensembles import accuracy_vs_size
from hyperzoo.data import Dataset, load_dataset
from hyperzoo.diversity import kl_entropy
from hyperzoo.errors import ConfigError, DataError, RunError
from hyperzoo.evaluation import ensemble_metrics, predict_proba
from hyperzoo.session import Session, limit_dataset, load_run
from hyperzoo.symmetry import gauge_fix
from hyperzoo.weights import atomic_write_json, flatten, save_tensors, select

ENSEMBLE_SIZES = [5, 10, 100, 1000]
ENSEMBLE_DRAWS = 10


def evaluate_run(run_dir: str | Path, n_networks: int = 100, data_dir: str | None = None,
                 split: str = "test", seed: int = 0, progress: bool = True,
                 out: str | Path | None = None, trust_code: bool = False) -> dict[str, Any]:
    """Metrics of ``n_networks`` sampled networks on ``split``, written to ``out`` (default
    RUN_DIR/metrics.json) as a best effort: a write error (a read-only run folder) is a warning
    line on stderr; the numbers are still returned.

    A method holding a fixed number of networks (an ensemble, a static hypernetwork) gives at
    most that many; the entropy estimate needs at least two (None otherwise).
    """
    if n_networks < 1:
        raise ConfigError(f"--networks must be at least 1, got {n_networks}")
    session = load_run(run_dir, data_dir, trust_code=trust_code)
    n_networks = min(n_networks, session.method.max_networks or n_networks)
    d = session.config.data
    data = load_dataset(d.dataset, split, d.data_dir)
    start = time.perf_counter()
    with torch.no_grad():
        weights = session.method.sample(n_networks, generator=torch.Generator().manual_seed(seed))
        with tqdm(total=n_networks, desc="evaluate", disable=not progress, unit="net") as bar:
            probs = predict_proba(session.target, weights, data.x,
                                  progress=lambda k: bar.update(k - bar.n))
        entropy = (kl_entropy(flatten(gauge_fix(session.target, weights)).double(),
                              d=session.method.latent_dim).item() if n_networks > 1 else None)
    # Seed 002 Table 4's rows: mean-probability ensembles of 5, 10, ... networks drawn from the
    # pool, ENSEMBLE_DRAWS random ones per size below the pool size (the pool itself is
    # ensemble_accuracy).
    by_size = accuracy_vs_size(probs, data.y, [s for s in ENSEMBLE_SIZES if s < n_networks],
                               count=ENSEMBLE_DRAWS, generator=torch.Generator().manual_seed(seed))
    metrics: dict[str, Any] = {
        **ensemble_metrics(probs, data.y),
        "ensemble_accuracy_by_size": {str(r["size"]): r["mean_prob_mean"] for r in by_size},
        "ensemble_draws": ENSEMBLE_DRAWS,
        "entropy_estimate": entropy,
        "dataset": data.name,
        "split": split,
        "n_examples": len(data),
        "seed": seed,
        "checkpoint": session.checkpoint,
        "checkpoint_step": session.checkpoint_step,
        "seconds": round(time.perf_counter() - start, 3),
    }
    path = Path(out) if out is not None else Path(run_dir) / "metrics.json"
    try:
        atomic_write_json(path, metrics)
    except OSError as e:
        print(f"warning: could not write {path} ({e.strerror or e}); the numbers are only printed "
              "(--out FILE writes them elsewhere)", file=sys.stderr)
    return metrics


NETWORK_FILE = re.compile(r"network_\d{4,}\.safetensors")


def _check_export_dir(out: Path) -> None:
    """``out`` may be new, empty, or an earlier export (manifest.json, network files, and
    temporaries of an interrupted write); anything else is a user's folder: refuse."""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        return
    other = sorted(p.name for p in out.iterdir() if not (
        p.name == "manifest.json" or NETWORK_FILE.fullmatch(p.name)
        or (p.name.startswith(".") and p.name.endswith(".tmp"))))
    if other:
        raise RunError(f"--out {out} holds {other[0]!r}, which is not part of an export of networks; "
                       "use a new or empty folder (an earlier export is replaced)")


def export_networks(run_dir: str | Path, n: int, out: str | Path, seed: int = 0,
                    trust_code: bool = False) -> list[Path]:
    """Write ``n`` sampled networks as safetensors state dicts of the plain target module.

    An earlier export in ``out`` is replaced: its manifest goes first, network files beyond the
    new ``n`` are deleted after the new manifest is written; a folder holding anything else is
    refused."""
    if n < 1:
        raise ConfigError(f"-n must be at least 1, got {n}")
    out = Path(out)
    _check_export_dir(out)
    session = load_run(run_dir, trust_code=trust_code)
    # No manifest while the files change: a crash never leaves one describing other networks.
    (out / "manifest.json").unlink(missing_ok=True)
    with torch.no_grad():
        weights = session.method.sample(n, generator=torch.Generator().manual_seed(seed))
    buffers = dict(session.target.module.named_buffers())
    paths = []
    for i in range(n):
        path = out / f"network_{i:04d}.safetensors"
        save_tensors(path, {**select(weights, i), **buffers},
                     {"target": session.config.target.name, "run": str(run_dir), "seed": seed,
                      "index": i})
        paths.append(path)
    t = session.config.target
    atomic_write_json(out / "manifest.json", {
        "target": t.name, "target_kwargs": t.kwargs, "input_shape": session.target.input_shape,
        "run": str(run_dir), "seed": seed, "n_networks": n,
        "files": [p.name for p in paths],
        "load": "module.load_state_dict(safetensors.torch.load_file(path))",
    })
    keep = {p.name for p in paths}
    for old in out.iterdir():
        if NETWORK_FILE.fullmatch(old.name) and old.name not in keep:
            old.unlink()
    return paths


def same_images_fraction(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of images of ``b`` that also occur in ``a``, compared at 8-bit precision."""
    if a.shape[1:] != b.shape[1:]:
        return 0.0

    def keys(x: torch.Tensor) -> list[bytes]:
        return [row.numpy().tobytes() for row in (x.flatten(1) * 255).round().to(torch.uint8)]

    seen = set(keys(a))
    return sum(k in seen for k in keys(b)) / len(b)


def check_outliers_differ(inliers: Dataset, outliers: Dataset) -> float:
    """Fraction of outlier images also among the inliers; raises when it is most of them (the
    reference implementation's "notMNIST" loader returned MNIST)."""
    overlap = same_images_fraction(inliers.x, outliers.x)
    if overlap > 0.5:
        raise DataError(f"{overlap:.0%} of the '{outliers.name}' images are also in the inlier set "
                         f"'{inliers.name}'; the out-of-distribution data is not different")
    return overlap


def ood_entropies(session: Session, inliers: Dataset, outliers: Dataset, n_networks: int, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Predictive entropy of ``n_networks`` sampled networks (at most the method's count) on
    inliers (B_in,) and outliers (B_out,), and the number of networks used."""
    from hyperzoo.evaluation.ood import predictive_entropy

    n = min(n_networks, session.method.max_networks or n_networks)
    with torch.no_grad():
        weights = session.method.sample(n, generator=torch.Generator().manual_seed(seed))
        h_in = predictive_entropy(predict_proba(session.target, weights, inliers.x))
        h_out = predictive_entropy(predict_proba(session.target, weights, outliers.x))
    return h_in, h_out, n


def ood_run(run_dir: str | Path, outlier: str, n_networks: int = 100, data_dir: str | None = None,
            limit: int | None = None, seed: int = 0, out: str | Path | None = None,
            progress: bool = True, trust_code: bool = False) -> dict[str, Any]:
    """Predictive entropy of ``n_networks`` sampled networks on the run's test set (inliers)
    and on data set ``outlier``; detection metrics and an empirical-CDF figure."""
    from hyperzoo import figures
    from hyperzoo.evaluation.ood import detection_metrics

    if n_networks < 1:
        raise ConfigError(f"--networks must be at least 1, got {n_networks}")
    session = load_run(run_dir, data_dir, trust_code=trust_code)
    d = session.config.data
    inliers = limit_dataset(load_dataset(d.dataset, "test", d.data_dir), limit)
    outliers = limit_dataset(load_dataset(outlier, "test", d.data_dir), limit)
    overlap = check_outliers_differ(inliers, outliers)
    h_in, h_out, n = ood_entropies(session, inliers, outliers, n_networks, seed)
    result: dict[str, Any] = {"inliers": inliers.name, "outliers": outlier, "n_networks": n,
                              "n_inliers": len(h_in), "n_outliers": len(h_out),
                              "image_overlap": overlap, **detection_metrics(h_in, h_out),
                              "mean_entropy_inliers": h_in.mean().item(),
                              "mean_entropy_outliers": h_out.mean().item()}
    if out is not None:
        out = Path(out)
        result["figure"] = figures.entropy_cdf({f"{inliers.name} (inliers)": h_in},
                                               {f"{outlier} (outliers)": h_out}, out / "ood_cdf.png")
        atomic_write_json(out / "ood.json", result)
    return result

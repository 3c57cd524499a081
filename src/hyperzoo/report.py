"""`hyperzoo report`: the papers' analyses of a run, as report.md, report.json and PNGs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from hyperzoo import figures
from hyperzoo.analysis.adversarial import fgsm, pgd, random_targets
from hyperzoo.analysis.ensembles import accuracy_vs_size, ensemble_accuracies
from hyperzoo.analysis.filters import filter_images
from hyperzoo.analysis.norms import layer_norms
from hyperzoo.analysis.paths import path_accuracies
from hyperzoo.analysis.pca import pca
from hyperzoo.data import Dataset, load_dataset
from hyperzoo.diversity import kl_entropy
from hyperzoo.evaluation import ensemble_metrics, predict_proba
from hyperzoo.methods import LatentMethod
from hyperzoo.session import Session, load_run
from hyperzoo.symmetry import gauge_fix
from hyperzoo.weights import atomic_write_json, atomic_write_text, flatten, select

EPSILONS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.16, 0.2, 0.24]
SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
# Numbers the seeds report, with the scale they were measured at.
SEED_NUMBERS = {
    "ensemble_majority_20x200": {"value": 0.9914, "source": "seed 001 §4, MNIST validation, "
                                 "λ = 10³, 13,000 steps on a K80 (paper scale)"},
}


def _subset(data: Dataset, limit: int | None) -> Dataset:
    if not limit or limit >= len(data):
        return data
    return Dataset(data.x[:limit], data.y[:limit], data.name, data.split, data.num_classes)


def _label(run_dir: Path, session: Session) -> str:
    m = session.config.method
    extra = f", λ = {float(m['lam']):g}" if "lam" in m else ""
    return f"{run_dir.name} ({m.get('name', 'deutsch')}{extra})"


class _Run:
    """One run's pool of sampled networks and their predictions on the test subset."""

    def __init__(self, run_dir: Path, session: Session, data: Dataset, pool: int, seed: int):
        self.dir = run_dir
        self.session = session
        self.data = data
        self.label = _label(run_dir, self.session)
        method = self.session.method
        if method.max_networks is not None:
            pool = min(pool, method.max_networks)
        with torch.no_grad():
            self.weights = method.sample(pool, generator=torch.Generator().manual_seed(seed))
            self.gauged = gauge_fix(self.session.target, self.weights)
            self.probs = predict_proba(self.session.target, self.weights, self.data.x)
            self.entropy = kl_entropy(flatten(self.gauged).double(), d=method.latent_dim).item()
        self.metrics = ensemble_metrics(self.probs, self.data.y)
        self.accuracies = (self.probs.argmax(-1) == self.data.y).double().mean(-1)


def _adversarial(run: _Run, data: Dataset, eps_grid: list[float], crafters: int, fresh: int,
                 pgd_steps: int, seed: int, bar) -> dict[str, Any]:
    """Seed 000 §4.2.3: each example, correctly classified by the sampled network it is crafted
    on, gets a random wrong target class; success = that network (or a fresh ensemble of
    ``fresh`` networks, mean probability) predicts the target."""
    target, method = run.session.target, run.session.method
    g = torch.Generator().manual_seed(seed)
    goal = random_targets(data.y, data.num_classes, g)
    with torch.no_grad():
        ensemble = method.sample(fresh, generator=torch.Generator().manual_seed(seed + 7))
    crafts = []  # (model, x, target) of the examples each crafting network classifies right
    for i, idx in enumerate(torch.arange(len(data)).chunk(crafters)):
        net = select(run.weights, slice(i, i + 1))

        def model(x, net=net):
            return target(net, x)[0]

        with torch.no_grad():
            keep = idx[model(data.x[idx]).argmax(-1) == data.y[idx]]
        crafts.append((model, data.x[keep], goal[keep]))
    used = sum(len(t) for _, _, t in crafts)
    out: dict[str, Any] = {"epsilons": eps_grid, "examples": used, "attempted": len(data),
                           "crafted_on": crafters, "fresh_ensemble": fresh, "pgd_steps": pgd_steps}
    goals = torch.cat([t for _, _, t in crafts])
    for attack in ("fgsm", "pgd"):
        single, ens = [], []
        for eps in eps_grid:
            fooled, advs = 0, []
            for model, x, t in crafts:
                adv = fgsm(model, x, t, eps) if attack == "fgsm" else pgd(model, x, t, eps, pgd_steps)
                with torch.no_grad():
                    fooled += (model(adv).argmax(-1) == t).sum().item()
                advs.append(adv)
            probs = predict_proba(target, ensemble, torch.cat(advs)).mean(0)
            single.append(fooled / max(1, used))
            ens.append((probs.argmax(-1) == goals).double().mean().item())
            bar.update(1)
        out[attack] = {"single_network": single, "fresh_ensemble": ens}
    return out


def make_report(run_dir: str | Path, out: str | Path, compare: list[str | Path] = (),
                data_dir: str | None = None, pool: int = 200, limit: int | None = None,
                adv_limit: int = 200, path_limit: int = 1000, seed: int = 0,
                progress: bool = True) -> dict[str, Any]:
    """Analyse ``run_dir`` (and ``compare`` runs on the same test subset) into ``out``."""
    if pool < 2:
        raise ValueError(f"--networks must be at least 2, got {pool}")
    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = 7 + 2 * len(EPSILONS)
    bar = tqdm(total=steps, desc="report", disable=not progress, unit="step")
    session = load_run(run_dir, data_dir)
    d = session.config.data
    data = _subset(load_dataset(d.dataset, "test", d.data_dir), limit)
    main = _Run(Path(run_dir), session, data, pool, seed)
    bar.update(1)
    others = [_Run(Path(r), load_run(r, data_dir), data, pool, seed) for r in compare]
    bar.update(1)
    runs = [main, *others]
    target = main.session.target
    rep: dict[str, Any] = {
        "run": str(run_dir), "dataset": data.name, "split": "test", "examples": len(data),
        "pool": pool, "seed": seed, "seed_numbers": SEED_NUMBERS,
        "runs": {r.label: {**r.metrics, "entropy_estimate": r.entropy,
                           "layer_norms": layer_norms(r.session.target, r.weights)} for r in runs},
    }
    figs = {"histogram": figures.accuracy_histograms(
        {r.label: r.accuracies for r in runs}, {r.label: r.entropy for r in runs},
        out / "accuracy_histogram.png")}

    g = torch.Generator().manual_seed(seed)
    size = max(1, main.probs.shape[0] // 2)
    k_ens = ensemble_accuracies(main.probs, data.y, size, 20, g)
    rep["ensembles"] = {"count": 20, "size": size,
                        **{f"{k}_mean": v.mean().item() for k, v in k_ens.items()},
                        **{f"{k}_std": v.std().item() for k, v in k_ens.items()}}
    rep["ensemble_vs_size"] = accuracy_vs_size(main.probs, data.y, SIZES, 10, g)
    figs["ensembles"] = figures.ensemble_curve(rep["ensemble_vs_size"], main.metrics["mean_accuracy"],
                                               out / "ensemble_vs_size.png")
    bar.update(1)

    probes = []
    for layer in range(min(3, len(target.layers) - 1)):
        imgs = filter_images(target, main.gauged, layer)
        name = f"filters_layer{layer + 1}.png"
        figs[f"filters_layer{layer + 1}"] = figures.filter_grid(
            imgs[:25], f"layer {layer + 1} ({target.layers[layer].name}), filter 1, input channel 1, "
                       "25 samples, gauge-fixed", out / name)
        probes.append(name)
    pcas = {}
    first = target.layers[0]
    for key, vectors, title in (
        ("filter", main.gauged[first.weight][:, 0].flatten(1), "one first-layer filter"),
        ("layer", main.gauged[target.layers[min(1, len(target.layers) - 1)].weight].flatten(1),
         "one layer"),
        ("network", flatten(main.gauged), "the whole network"),
    ):
        p = pca(vectors.double(), 5)
        pcas[key] = p.explained.tolist()
        figs[f"pca_{key}"] = figures.pca_scatter(p.scores, p.explained,
                                                 f"PCA of {title} (gauge-fixed)", out / f"pca_{key}.png")
    rep["pca_explained_variance"] = pcas
    bar.update(1)

    method = main.session.method
    if isinstance(method, LatentMethod):
        sub = _subset(data, path_limit)
        paths = path_accuracies(method, sub.x, sub.y, pairs=5, points=11, generator=g)
        mid = paths["t"].numel() // 2
        rep["paths"] = {"t": paths["t"].tolist(), "direct": paths["direct"].tolist(),
                        "interpolated": paths["interpolated"].tolist(), "examples": len(sub),
                        "direct_midpoint_mean": paths["direct"][:, mid].mean().item(),
                        "interpolated_midpoint_mean": paths["interpolated"][:, mid].mean().item(),
                        "endpoints_mean": torch.cat([paths["direct"][:, 0],
                                                     paths["direct"][:, -1]]).mean().item()}
        figs["paths"] = figures.paths_figure(paths["t"], paths["direct"], paths["interpolated"],
                                             out / "paths.png")
    bar.update(1)

    adv = _adversarial(main, _subset(data, adv_limit), EPSILONS, crafters=10,
                       fresh=min(100, pool), pgd_steps=10, seed=seed, bar=bar)
    rep["adversarial"] = adv
    figs["adversarial"] = figures.adversarial_figure(EPSILONS, {
        "FGSM, network it was crafted on": adv["fgsm"]["single_network"],
        f"FGSM, fresh ensemble of {adv['fresh_ensemble']}": adv["fgsm"]["fresh_ensemble"],
        "PGD, network it was crafted on": adv["pgd"]["single_network"],
        f"PGD, fresh ensemble of {adv['fresh_ensemble']}": adv["pgd"]["fresh_ensemble"],
    }, out / "adversarial.png")
    bar.update(1)
    rep["figures"] = figs
    rep["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(out / "report.json", rep)
    atomic_write_text(out / "report.md", _markdown(rep, main.label))
    bar.update(1)
    bar.close()
    return rep


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _markdown(rep: dict[str, Any], main: str) -> str:
    lines = [f"# hyperzoo report: {main}", "",
             f"Test set: {rep['dataset']} ({rep['examples']} examples); pool of {rep['pool']} sampled "
             f"networks per run, seed {rep['seed']}. Every number is in `report.json`.", "",
             "## Accuracy of sampled networks", "",
             "| run | single mean ± std | min / max | ensemble (mean prob.) | ensemble (majority) | Ĥ |",
             "|---|---|---|---|---|---|"]
    for label, m in rep["runs"].items():
        lines.append(f"| {label} | {_pct(m['mean_accuracy'])} ± {_pct(m['std_accuracy'])} | "
                     f"{_pct(m['min_accuracy'])} / {_pct(m['max_accuracy'])} | "
                     f"{_pct(m['ensemble_accuracy'])} | {_pct(m['majority_accuracy'])} | "
                     f"{m['entropy_estimate']:.0f} |")
    e = rep["ensembles"]
    seed_ens = rep["seed_numbers"]["ensemble_majority_20x200"]
    lines += ["", f"![histogram]({rep['figures']['histogram']})", "",
              "## Ensembles", "",
              f"{e['count']} ensembles of {e['size']} networks drawn from the pool: majority vote "
              f"{_pct(e['majority_mean'])} ± {_pct(e['majority_std'])}, mean probability "
              f"{_pct(e['mean_prob_mean'])} ± {_pct(e['mean_prob_std'])}. Seed: "
              f"{_pct(seed_ens['value'])} ({seed_ens['source']}).", "",
              "| size | mean prob. | majority |", "|---|---|---|"]
    for r in rep["ensemble_vs_size"]:
        lines.append(f"| {r['size']} | {_pct(r['mean_prob_mean'])} ± {_pct(r['mean_prob_std'])} | "
                     f"{_pct(r['majority_mean'])} ± {_pct(r['majority_std'])} |")
    lines += ["", f"![ensembles]({rep['figures']['ensembles']})", "", "## Diversity probes", ""]
    lines += [f"![{k}]({v})" for k, v in rep["figures"].items() if k.startswith("filters")]
    lines += ["", "Explained variance of the first 5 principal components (gauge-fixed weights):", ""]
    for key, ev in rep["pca_explained_variance"].items():
        lines.append(f"- {key}: " + ", ".join(f"{100 * v:.1f}%" for v in ev))
    lines += [""] + [f"![{k}]({v})" for k, v in rep["figures"].items() if k.startswith("pca")]
    if "paths" in rep:
        p = rep["paths"]
        verdict = ("the direct path dips below the interpolated one, as in seed 001 Fig. 7"
                   if p["direct_midpoint_mean"] < p["interpolated_midpoint_mean"]
                   else "the direct path does NOT dip below the interpolated one here, "
                        "unlike seed 001 Fig. 7")
        lines += ["", "### Paths in weight space", "",
                  f"Mean accuracy at the endpoints {_pct(p['endpoints_mean'])}; at t = 0.5 the "
                  f"interpolated path G(z₁t + z₂(1−t)) has {_pct(p['interpolated_midpoint_mean'])}, "
                  f"the direct path G(z₁)t + G(z₂)(1−t) {_pct(p['direct_midpoint_mean'])}: "
                  f"{verdict} ({p['examples']} test examples, 5 pairs).", "",
                  f"![paths]({rep['figures']['paths']})"]
    lines += ["", "### Layer-wise weight norms (seed 002 Table 3)", "",
              "| run | " + " | ".join(next(iter(rep["runs"].values()))["layer_norms"]) + " |",
              "|---|" + "---|" * len(next(iter(rep["runs"].values()))["layer_norms"])]
    for label, m in rep["runs"].items():
        lines.append(f"| {label} | " + " | ".join(f"{v['mean']:.2f} ± {v['std']:.2f}"
                                                 for v in m["layer_norms"].values()) + " |")
    a = rep["adversarial"]
    lines += ["", "## Adversarial examples (targeted, seed 000 §4.2.3)", "",
              f"{a['examples']} of {a['attempted']} test examples (those correctly classified by the "
              f"sampled network they are crafted on; {a['crafted_on']} such networks), each with a "
              f"random wrong target class; success = that network, or a fresh ensemble of "
              f"{a['fresh_ensemble']} networks (mean probability), predicts the target. PGD: "
              f"{a['pgd_steps']} steps. Seed 000 Fig. 6 shows the same curves for FGSM (figure only, "
              "no numbers): lower success against the ensemble.", "",
              "| ε | FGSM single | FGSM ensemble | PGD single | PGD ensemble |", "|---|---|---|---|---|"]
    for i, eps in enumerate(a["epsilons"]):
        lines.append(f"| {eps:g} | {_pct(a['fgsm']['single_network'][i])} | "
                     f"{_pct(a['fgsm']['fresh_ensemble'][i])} | {_pct(a['pgd']['single_network'][i])} | "
                     f"{_pct(a['pgd']['fresh_ensemble'][i])} |")
    lines += ["", f"![adversarial]({rep['figures']['adversarial']})", "",
              f"Report computed in {rep['seconds']} s.", ""]
    return "\n".join(lines)

"""`hyperzoo report`: the papers' analyses of a run, as report.md, report.json and PNGs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from hyperzoo import figures
from hyperzoo.analysis.adversarial import fgsm, input_range, pgd, random_targets
from hyperzoo.analysis.adversarial_detection import detect_adversarial
from hyperzoo.analysis.ambiguous import ambiguous_examples, vote_counts
from hyperzoo.analysis.ensembles import accuracy_vs_size, ensemble_accuracies
from hyperzoo.analysis.filters import NoImageForm, filter_images
from hyperzoo.analysis.norms import layer_norms
from hyperzoo.analysis.paths import direct_path_accuracies, path_accuracies, path_summary
from hyperzoo.analysis.pca import pca_views
from hyperzoo.analysis.regression import plot_regression, regression_summary
from hyperzoo.analysis.transfer import transfer, transfer_summary
from hyperzoo.data import Dataset
from hyperzoo.devices import weights_device
from hyperzoo.diversity import sample_entropy
from hyperzoo.errors import ConfigError, RunError, UserError
from hyperzoo.evaluation import ensemble_metrics, predict_proba, reliability_bins, uncertainty_metrics
from hyperzoo.evaluation.predictions import mean_prediction, predicted
from hyperzoo.evaluation.regression import gaussian_nll_text
from hyperzoo.methods import LatentMethod
from hyperzoo.notes import note
from hyperzoo.progress import progress_bar
from hyperzoo.session import (
    Session,
    limit_dataset,
    load_run,
    load_split,
    sample_networks,
    statistics_images,
)
from hyperzoo.symmetry import GaugeUnavailable, gauge_fix
from hyperzoo.targets.target_net import layer_labels
from hyperzoo.weights import atomic_write_json, atomic_write_text, flatten, select
from hyperzoo.workflows import (
    check_input_shape,
    check_result_dir,
    checked_outliers,
    claim_result_dir,
    ood_predictions,
)

EPSILONS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.16, 0.2, 0.24]
SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
# Random ensembles per size below the pool size (Table 4 rows; the ensembles figure).
SIZE_DRAWS = 10
# Numbers the seeds report, with the scale they were measured at and the setting (data set,
# method, target) they belong to: a report quotes one only for a run of that setting.
_DEUTSCH_MNIST = {"dataset": "mnist", "method": "deutsch", "target": "deutsch_mnist"}
_HYPERGAN_MNIST = {"dataset": "mnist", "method": "hypergan", "target": "hypergan_mnist"}
SEED_NUMBERS = {
    "ensemble_majority_20x200": {"value": 0.9914, "source": "seed 001 §4, MNIST validation, "
                                 "λ = 10³, 13,000 steps on a K80 (paper scale)", **_DEUTSCH_MNIST},
    "hypergan_table4_mnist": {"value": {1: 0.9864, 5: 0.9875, 10: 0.9922, 100: 0.9931},
                              "source": "seed 002 Table 4, MNIST test, HyperGAN (paper scale, GPU)",
                              **_HYPERGAN_MNIST},
    "hypergan_table3_mnist": {
        "value": {"hypergan": {"conv1": [7.49, 1.59], "conv2": [51.10, 10.62], "linear": [22.01, 6.01]},
                  "standard": {"conv1": [27.05, 0.31], "conv2": [160.51, 0.51], "linear": [5.97, 0.06]}},
        "statistic": "[mean, variance σ²] over networks of each layer's 2-norm",
        "source": "seed 002 Table 3, MNIST, networks trained to 99% accuracy: a population sampled from "
                  "HyperGAN vs 10 standard networks from different random initializations (paper "
                  "scale, GPU; whether biases count is not stated)", **_HYPERGAN_MNIST},
    "hypergan_notmnist": {"value": None, "source": "seed 002 Fig. 3: empirical CDFs only, no AUROC",
                          **_HYPERGAN_MNIST},
    "hypergan_adversarial_detection": {"value": 0.97, "source": "seed 002 §4.5: 'over 97%' of "
                                       "FGSM and PGD examples detected by thresholding entropy, "
                                       "MNIST, paper scale (threshold and ε not stated)", **_HYPERGAN_MNIST},
}


# The fresh ensemble the targeted attacks are scored on: at most this many networks.
ADVERSARIAL_FRESH = 100

# Each section's networks come from its own noise seed, the report's seed plus this (recorded in
# report.json as `noise_seeds`).
SEED_OFFSETS = {"adversarial_fresh": 7, "detection_attacked": 11, "detection_scoring": 13, "ood": 17,
                "transfer": 19}


def seed_numbers_for(dataset: str, method: str, target: str) -> dict[str, dict[str, Any]]:
    """The seed numbers measured in the setting of a run (its data set, method and target)."""
    return {k: v for k, v in SEED_NUMBERS.items()
            if (v["dataset"], v["method"], v["target"]) == (dataset, method, target)}
DETECTION_SIZES = [5, 10, 100, 1000]


def _by_label(target, per_layer: dict[str, Any]) -> dict[str, Any]:
    """``{module name: v}`` keyed by the layers' labels (conv1, fc2) instead of paths (net.3)."""
    return dict(zip(layer_labels(target.layers), (per_layer[s.name] for s in target.layers), strict=True))


def _slug(run_dir: Path, index: int) -> str:
    """A compared run's part of its figure file names: its folder's name, file-name safe."""
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in run_dir.name)
    return f"{index + 1}-{name}"


def _label(run_dir: Path, session: Session) -> str:
    """``folder (method, λ = …)``; a folder named after its method is not named twice ("deutsch
    (deutsch, λ = 3000)")."""
    m, name = session.config.method, session.config.method_name
    extra = (f"λ = {float(m['lam']):g}" if "lam" in m
             else f"β = {float(m['beta']):g}" if "beta" in m else "")
    said = [part for part in (name if run_dir.name != name else "", extra) if part]
    return f"{run_dir.name} ({', '.join(said)})" if said else run_dir.name


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
            self.weights = sample_networks(session, pool, seed)
            params = {k: self.weights[k] for k in session.target.param_shapes}
            try:
                self.gauged = gauge_fix(self.session.target, params)
                self.gauge_fixed = True
            except GaugeUnavailable:  # a module torch.fx cannot trace: its weights as they are
                self.gauged, self.gauge_fixed = params, False
            self.probs = predict_proba(self.session.target, self.weights, self.data.x)
            # The entropy of ungauged weights would reward rescalings: none, as evaluate gives.
            # d: the latent space's dimension, else the weights' count (as evaluate takes it).
            self.entropy_d = method.latent_dim or flatten(self.gauged).shape[1]
            self.entropy, self.coinciding = (sample_entropy(flatten(self.gauged).double(), method.latent_dim)
                                             if pool > 1 and self.gauge_fixed else (None, 0))
        self.metrics = ensemble_metrics(self.probs, self.data.y)
        self.uncertainty = uncertainty_metrics(self.probs, self.data.y)
        self.accuracies = (predicted(self.probs) == self.data.y).double().mean(-1)

    def check_finite(self) -> None:
        """Raise `RunError` where a sampled network's outputs hold NaN: the detection sections'
        scores cannot rank NaN, and the ensembles would count it as a miss everywhere."""
        bad = self.probs.isnan().flatten(1).any(1)
        if bad.any():
            raise RunError(f"run {self.dir}: {int(bad.sum())} of its {len(bad)} sampled networks give NaN "
                           f"outputs on the {self.data.name} test set (diverged weights); the report needs "
                           "finite predictions")


    def check_draws(self, draws: list[tuple[str, int, str]], seed: int) -> None:
        """Raise `RunError` where a network one of the sections draws for itself (``draws``:
        section, networks, `SEED_OFFSETS` key) has weights that are not finite, or (a target
        without running statistics, which each draw would need estimated) NaN outputs on the
        first test examples. `check_finite` sees the pool only: a diverged network in a fresh
        ensemble made its mean probability NaN and the attack's success against it read 0%."""
        probe = self.data.x[:16]
        with torch.no_grad():
            for section, n, key in draws:
                noise = seed + SEED_OFFSETS[key]
                w = self.session.method.sample(n, generator=torch.Generator().manual_seed(noise))
                finite = torch.stack([v.flatten(1).isfinite().all(1) for v in w.values()]).all(0)
                what = "weights that are not finite"
                if finite.all() and not self.session.target.has_statistics:
                    finite = ~predict_proba(self.session.target, w, probe).isnan().flatten(1).any(1).cpu()
                    what = f"NaN outputs on the first {len(probe)} test examples"
                if not finite.all():
                    raise RunError(f"run {self.dir}: {int((~finite).sum())} of the {n} networks the report "
                                   f"draws for its {section} section (noise seed {noise}) give {what} (a "
                                   "generator that diverges for some noise); the report needs finite "
                                   "networks")


def _section_draws(run: _Run, sizes: list[int], transfer_networks: int, ood_networks: int | None
                   ) -> list[tuple[str, int, str]]:
    """The networks each section draws of ``run``'s method beside its pool, as (section,
    networks, `SEED_OFFSETS` key): what `_adversarial`, `_detection`, `_transfer` and `_ood`
    sample (a fixed set hands out its first members)."""
    method = run.session.method
    draws = [("adversarial", min(ADVERSARIAL_FRESH, run.probs.shape[0]), "adversarial_fresh"),
             *((f"adversarial detection ({size} networks)", size, key)
               for size in sizes for key in ("detection_attacked", "detection_scoring")),
             ("transfer", transfer_networks + 1, "transfer")]
    if ood_networks is not None:
        draws.append(("out-of-distribution", ood_networks, "ood"))
    return [(section, method.capped(n), key) for section, n, key in draws]


def _adversarial(run: _Run, data: Dataset, eps_grid: list[float], crafters: int, fresh: int,
                 pgd_steps: int, seed: int, bar) -> dict[str, Any]:
    """Seed 000 §4.2.3: each example, correctly classified by the sampled network it is crafted
    on, gets a random wrong target class; success = that network (or a fresh ensemble of
    ``fresh`` networks, mean probability) predicts the target. A fixed set of networks (an
    ensemble) has no fresh ones: its first half at most crafts, the rest scores."""
    target = run.session.target
    bounds = input_range(data.x)
    g = torch.Generator().manual_seed(seed)
    goal = random_targets(data.y, data.num_classes, g)
    pool = run.probs.shape[0]
    if run.session.method.max_networks is not None:
        # The pool is the set's first members: scoring on them would include each example's own
        # attacked network.
        crafters = min(crafters, pool // 2)
        ensemble, fresh = select(run.weights, slice(crafters, pool)), pool - crafters
        scored_on = f"the set's {fresh} other networks"
    else:
        crafters = min(crafters, pool)  # each crafting network comes from the pool
        with torch.no_grad():
            ensemble = sample_networks(run.session, fresh, seed + SEED_OFFSETS["adversarial_fresh"])
        scored_on = f"a fresh ensemble of {fresh}"
    crafts = []  # (model, x, target) of the examples each crafting network classifies right
    # Exactly `crafters` shares (chunk gave 6 of 12 examples' 10), the empty ones crafting nothing.
    shares = [idx for idx in torch.tensor_split(torch.arange(len(data)), crafters) if len(idx)]
    crafters = len(shares)
    for i, idx in enumerate(shares):
        net = select(run.weights, slice(i, i + 1))

        def model(x, net=net):
            # Images on the CPU, the networks on the run's device; logits back on the CPU.
            return target(net, x.to(weights_device(net)))[0].cpu()

        with torch.no_grad():
            keep = idx[model(data.x[idx]).argmax(-1) == data.y[idx]]
        crafts.append((model, data.x[keep], goal[keep]))
    used = sum(len(t) for _, _, t in crafts)
    out: dict[str, Any] = {"epsilons": eps_grid, "examples": used, "attempted": len(data),
                           "crafted_on": crafters, "fresh_ensemble": fresh, "scored_on": scored_on,
                           # Of those, the networks that classified any of their share right.
                           "crafting_networks": sum(len(t) > 0 for _, _, t in crafts),
                           "pgd_steps": pgd_steps}
    goals = torch.cat([t for _, _, t in crafts])
    for attack in ("fgsm", "pgd"):
        single, ens = [], []
        for eps in eps_grid:
            fooled, advs = 0, []
            for model, x, t in crafts:
                if not len(x):  # none of its share classified right: nothing to attack (a view
                    continue    # of 0 images to (0, -1) failed in a user's forward)
                adv = (fgsm(model, x, t, eps, *bounds) if attack == "fgsm"
                       else pgd(model, x, t, eps, pgd_steps, None, *bounds))
                with torch.no_grad():
                    fooled += (model(adv).argmax(-1) == t).sum().item()
                advs.append(adv)
            if used == 0:  # no example classified right by its crafting network: nothing attacked,
                single.append(None)  # nothing measured (it read 0.00%)
                ens.append(None)
            else:
                single.append(fooled / used)
                probs = predict_proba(target, ensemble, torch.cat(advs)).mean(0)
                ens.append((predicted(probs) == goals).double().mean().item())
            bar.update(1)
        out[attack] = {"single_network": single, "fresh_ensemble": ens}
    return out


def _detection(run: _Run, data: Dataset, eps: float, pgd_steps: int, seed: int,
               sizes: list[int], pgd_max: int) -> list[dict[str, Any]]:
    """Seed 002 §4.5 for one run: untargeted attacks on ensembles of each size, scored on a fresh
    ensemble of equal size (or the attacked one itself when the method holds a fixed set: the
    sizes it holds, or, smaller than all, the whole set; none for one network)."""
    method = run.session.method
    fixed = method.max_networks
    if fixed is not None:
        # An ensemble of 3 against the default sizes 5, ... had no row: an empty figure and table.
        sizes = [s for s in sizes if s <= fixed] or ([fixed] if fixed >= 2 else [])
    rows = []
    for size in sizes:
        with torch.no_grad():
            attacked = sample_networks(run.session, size, seed + SEED_OFFSETS["detection_attacked"])
            scoring = attacked if fixed is not None else sample_networks(
                run.session, size, seed + SEED_OFFSETS["detection_scoring"])
            p_clean = predict_proba(run.session.target, scoring, data.x)  # both attacks score it
        for attack in ("fgsm", "pgd"):
            if attack == "pgd" and size > pgd_max:
                continue
            r = detect_adversarial(run.session.target, attacked, scoring, data.x, data.y, eps, attack,
                                   pgd_steps, bounds=input_range(data.x), p_clean=p_clean)
            rows.append({"run": run.label, "size": size, "fresh": fixed is None, **r})
    return rows


def _transfer(run: _Run, data: Dataset, eps: float, networks: int, seed: int
              ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    """Seed 002 Fig. 4 for one run: untargeted FGSM and PGD (10 steps) examples crafted on one
    network of the run, scored on ``networks`` other networks of it (a fresh sample; a fixed set
    gives the rest of its networks). None when the run holds fewer than two networks."""
    held = run.session.method.max_networks
    n = networks + 1 if held is None else min(networks + 1, held)
    if n < 2:
        return None
    target = run.session.target
    with torch.no_grad():
        w = sample_networks(run.session, n, seed + SEED_OFFSETS["transfer"])
    crafting, pool = select(w, slice(0, 1)), select(w, slice(1, n))

    def model(x):
        return target(crafting, x.to(weights_device(crafting)))[0].cpu()

    out: dict[str, Any] = {"pool": n - 1, "eps": eps, "examples": len(data)}
    curves = {}
    for attack in ("fgsm", "pgd"):
        r = transfer(model, target, pool, data.x, data.y, eps, attack, 10, bounds=input_range(data.x))
        fooling = r["fraction"][r["fools_crafting"]]
        out[attack] = {**transfer_summary(r), "fractions": fooling.tolist()}
        curves[f"{run.label}|{attack}"] = {"fraction": fooling, "pool": n - 1}
    return out, curves


def _ood(runs: list[_Run], inliers: Dataset, outliers: Dataset, overlap: float, n_networks: int,
         seed: int, out: Path) -> dict[str, Any]:
    """Seed 002 §4.4 for every run: predictive entropy (and mutual information) on the test subset
    vs the outlier set, outliers positive."""
    from hyperzoo.evaluation.ood import POSITIVE_CLASS, detection_by_score, ood_scores

    outlier = outliers.name  # a path's own name, not the path
    res: dict[str, Any] = {"outliers": outlier, "positive_class": f"{POSITIVE_CLASS} ({outlier})",
                           "n_inliers": len(inliers), "n_outliers": len(outliers),
                           "image_overlap": overlap, "runs": {}}
    curves_in, curves_out = {}, {}
    for r in runs:
        # Quiet on a fixed set's smaller pool: report.json records each run's networks.
        p_in, p_out = ood_predictions(r.session, [inliers, outliers], n_networks,
                                      seed + SEED_OFFSETS["ood"], say_capped=False)
        s_in, s_out, n = ood_scores(p_in), ood_scores(p_out), p_in.shape[0]
        h_in, h_out = s_in["entropy"], s_out["entropy"]
        scores = detection_by_score(s_in, s_out)
        # The entropy's metrics stay at the top level, as before mutual information was added.
        res["runs"][r.label] = {"n_networks": n, **{k: scores["entropy"][k] for k in
                                                    ("auroc", "aupr", "fpr_at_95_tpr")},
                                "mean_entropy_inliers": h_in.mean().item(),
                                "mean_entropy_outliers": h_out.mean().item(), "scores": scores}
        curves_in[f"{r.label}: {inliers.name}"] = h_in
        curves_out[f"{r.label}: {outlier} (AUROC {res['runs'][r.label]['auroc']:.3f})"] = h_out
        if r is runs[0]:
            res["confident_outliers"] = {**_confident_outliers(outliers, p_out, h_out, out, r.label),
                                         "run": r.label}
    res["figure"] = figures.entropy_cdf(
        curves_in, curves_out, out / "ood_cdf.png",
        f"{len(inliers):,} {inliers.name} test images against {len(outliers):,} {outlier}; "
        "AUROC by predictive entropy")
    return res


def _confident_outliers(outliers: Dataset, probs: torch.Tensor, h_out: torch.Tensor, out: Path, run: str,
                        k: int = 12) -> dict[str, Any]:
    """Seed 002 Fig. 7 (bottom row): the ``k`` outliers of least predictive entropy ``h_out`` (B,),
    with the votes of the networks whose probabilities ``probs`` (N, B, C) scored them."""
    order = torch.sort(h_out, stable=True).indices[:k]
    n = probs.shape[0]
    votes = vote_counts(probs[:, order])
    res = {"networks": n, "indices": order.tolist(), "entropy": h_out[order].tolist(),
           "votes": votes.tolist()}
    res["figure"] = figures.ambiguous_grid(
        outliers.x[order], votes, None, h_out[order], "H", out / "confident_outliers.png",
        title=f"{outliers.name} images the {n} sampled networks of {run} are most sure of (least "
              "predictive entropy H, nats);\nbars: votes per class", indices=order.tolist())
    return res


def _compared_session(run_dir: Path, main_dir: Path, main: Session, data: Dataset, data_dir: str | None,
                      trust_code: bool) -> Session:
    """A ``--compare`` run, reopened and checked against the main run: another run, a classifier
    of the same inputs."""

    if run_dir.resolve() == main_dir.resolve():
        raise ConfigError(f"--compare {run_dir} is the report's own run")
    session = load_run(run_dir, data_dir, trust_code=trust_code)
    try:
        check_input_shape(session, data)
    except UserError as e:  # which of several --compare runs
        raise type(e)(f"--compare {run_dir}: {e}") from e
    if session.method.task != main.method.task:
        raise ConfigError(f"--compare {run_dir} trains for {session.method.task}, the report's run for "
                          f"{main.method.task}")
    mine, theirs = main.config.data, session.config.data
    # (The test split does not depend on val_fraction; a run recorded before files were hashed
    # has no sha256 to compare.)
    if Path(mine.dataset).name != Path(theirs.dataset).name or (
            mine.sha256 is not None and theirs.sha256 is not None and mine.sha256 != theirs.sha256):
        # Scored on the main run's test images, which it may have trained on (two files holding
        # the same images in another order): one run read 90.8% beside the main run's 87.1%.
        note(f"--compare {run_dir} trained on {theirs.dataset!r}, the report's run on "
             f"{mine.dataset!r}: it is scored on the report's test set all the same, which it may "
             "not have held out")
    return session


def _distinct_labels(runs: list[_Run]) -> None:
    """Runs' labels key the report's tables and figures: two folders of one name (a/run, b/run)
    made one row of two runs, the second's numbers under the first's name. Each clash gets its
    parent folder, then its place in the list."""
    for attempt in (lambda r, i: f"{r.dir.parent.name}/{r.label}", lambda r, i: f"{r.label} #{i + 1}"):
        labels = [r.label for r in runs]
        for i, r in enumerate(runs):
            if labels.count(r.label) > 1:
                r.label = attempt(r, i)
    assert len({r.label for r in runs}) == len(runs)


# What every report.json holds: an earlier report, not a file of that name written by another tool.
REPORT_KEYS = frozenset({"run", "method", "dataset", "figures"})


def report_file(name: str) -> bool:
    """A file `make_report` writes into its --out folder: report.json, report.md, command.txt
    and its figures (a compared run's carry ``_<folder>``), not any PNG of a user's."""
    return name in ("report.json", "report.md", "command.txt") or REPORT_FIGURE.fullmatch(name) is not None


REPORT_FIGURE = re.compile(r"(accuracy_histogram|adversarial|adversarial_detection|ambiguous|"
                           r"confident_outliers|ensemble_vs_size|ood_cdf|paths|regression|reliability|"
                           r"transfer|filters_layer\d+|pca_(filter|layer|network))(_.+)?\.png")


def _check_arguments(pool: int, adv_limit: int, path_limit: int | None, path_pairs: int, ood_networks: int,
                     detection_sizes: list[int] | None, transfer_networks: int, ambiguous: int) -> None:
    """Raise `ConfigError` for a count the report cannot use, naming its option, before any work."""
    if pool < 2:
        raise ConfigError(f"--networks must be at least 2, got {pool}")
    if transfer_networks < 1 or ambiguous < 1:
        raise ConfigError(f"--transfer-networks and --ambiguous must be positive, got {transfer_networks}, "
                          f"{ambiguous}")
    if path_pairs < 1 or (path_limit is not None and path_limit < 1):
        raise ConfigError(f"--path-pairs and --path-limit must be positive, got {path_pairs}, {path_limit}")
    if adv_limit < 0:  # refused late, under --limit's name
        raise ConfigError(f"--adv-limit must be at least 0 (0: every example), got {adv_limit}")
    if ood_networks < 1 or (detection_sizes is not None and any(s < 1 for s in detection_sizes)):
        # From Python these reached the work: a traceback after a dozen figures.
        raise ConfigError(f"--ood-networks and --detection-sizes must be positive, got {ood_networks}, "
                          f"{detection_sizes}")


# A pooled compared run: the run, its slug for file names, its own generator.
Pooled = list[tuple[_Run, str, torch.Generator]]
# What a section adds: entries of report.json and figures (name -> file in the report's folder).
Section = tuple[dict[str, Any], dict[str, str]]


def make_report(run_dir: str | Path, out: str | Path, compare: list[str | Path] = (),
                data_dir: str | None = None, pool: int = 200, limit: int | None = None,
                adv_limit: int = 200, path_limit: int | None = None, path_pairs: int = 10, seed: int = 0,
                ood: str | None = None, ood_networks: int = 100, detection_sizes: list[int] | None = None,
                detection_eps: float = 0.1, transfer_networks: int = 500, ambiguous: int = 12,
                progress: bool = True, session: Session | None = None,
                trust_code: bool = False
                ) -> dict[str, Any]:
    """Analyse ``run_dir`` (and ``compare`` runs on the same test subset) into ``out``.

    ``ood`` names an outlier data set (e.g. ``notmnist``) for the out-of-distribution section;
    ``detection_sizes`` (default 5, 10, 100, 1000) the ensembles of the adversarial-detection
    section (PGD up to 100 networks: its 10 steps through 1000 networks are too slow on a CPU).
    ``path_limit`` test examples (default: the whole test set, whatever ``limit`` is: a path's
    dip is a fraction of a point, so it needs every example) score ``path_pairs`` pairs of seed
    001's paths.
    ``transfer_networks`` networks (capped by a fixed set) score the FGSM and PGD examples of
    one network at ε = ``detection_eps`` (seed 002 Fig. 4); ``ambiguous`` test images with the
    highest mutual information are shown with their votes (seed 002 Fig. 7).
    ``session``: the main run, already reopened (``hyperzoo.Run.report``).
    ``trust_code`` allows targets named by import path in the runs' config.yaml.
    """
    _check_arguments(pool, adv_limit, path_limit, path_pairs, ood_networks, detection_sizes,
                     transfer_networks, ambiguous)
    sizes = detection_sizes if detection_sizes is not None else DETECTION_SIZES
    check_result_dir(out, "report.json", report_file, REPORT_KEYS, run_dir)
    start = time.perf_counter()
    session = session or load_run(run_dir, data_dir, trust_code=trust_code)
    held = session.method.max_networks
    if held is not None and held < 2:
        raise RunError(f"run {run_dir} holds {held} network ({session.config.method_name}); "
                         "the report analyses a pool of sampled networks: pass it with --compare")
    out = Path(out)
    d = session.config.data
    full_test = load_split(d, "test", task=session.method.task)
    data = limit_dataset(full_test, limit)
    if data.task == "regression":
        if compare or ood:
            raise ConfigError("the report of a regression run takes no --compare or --ood")
        return regression_report(run_dir, session, data, out, pool, seed, start)
    # Everything the report reads is checked before its folder is made: a refusal late in the
    # work left a traceback and half the figures.
    compared = [(Path(r), _compared_session(Path(r), Path(run_dir), session, data, data_dir, trust_code))
                for r in compare]
    outliers = (checked_outliers(session, ood, data, data_dir or d.data_dir, len(data)) if ood
                else None)
    # The compared runs attacked: those with a pool of two networks or more (known from their
    # methods before any is sampled). 10 steps beside the attacks: building the runs (2), the
    # histograms, the filters and PCA, the paths, the adversarial figure, the transfer, the
    # ambiguous images, writing (1 each), and one per run's detection (len(compare) + 1).
    attacked = sum(min(pool, s.method.max_networks or pool) >= 2 for _, s in compared)
    steps = 10 + 2 * len(EPSILONS) * (1 + attacked) + len(compare) + bool(ood)
    bar = progress_bar(total=steps, desc="report", show=progress, unit="step")
    main = _Run(Path(run_dir), session, data, pool, seed)
    bar.update(1)
    others = [_Run(r, s, data, pool, seed) for r, s in compared]
    bar.update(1)
    runs = [main, *others]
    for r in runs:
        r.check_finite()
        r.check_draws(_section_draws(r, sizes, transfer_networks, ood_networks if outliers else None), seed)
    claim_result_dir(out, "report")
    _distinct_labels(runs)
    # Runs with a pool of networks (not one SGD network) get every diversity section too, each
    # with its own generator so the main run's numbers do not depend on what it is compared with.
    pooled = [(r, _slug(r.dir, j), torch.Generator().manual_seed(seed + 1 + j))
              for j, r in enumerate(others) if r.probs.shape[0] >= 2]
    rep = _header(run_dir, session, main, runs, data, pool, seed)
    # The README's numbers take all of them; "first 300" of a set of 300 read as a subset.
    total = len(full_test)
    scope = _test_images(len(data), total, data.name)
    figs: dict[str, str] = {}
    # One generator through the sections that draw from it (ensembles, then paths), in this order.
    g = torch.Generator().manual_seed(seed)
    adv_data = limit_dataset(data, adv_limit)
    sections = [
        lambda: _ensemble_section(main, runs, pooled, data, g, out, scope),
        lambda: _weights_section(main, pooled, out),
        lambda: _paths_section(main, pooled, limit_dataset(full_test, path_limit), path_pairs, g, out),
        lambda: _adversarial_section(main, pooled, adv_data, total, seed, out, bar),
        lambda: _detection_section(runs, adv_data, total, detection_eps, sizes, transfer_networks, seed, out,
                                   bar),
        lambda: _ambiguous_section(main, data, ambiguous, out),
    ]
    if outliers is not None:
        sections.append(lambda: _ood_section(runs, data, outliers, ood_networks, seed, out))
    for section in sections:
        entries, section_figs = section()
        rep.update(entries)
        figs.update(section_figs)
        bar.update(1)
    rep["figures"] = figs
    rep["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(out / "report.json", rep)
    atomic_write_text(out / "report.md", _markdown(rep, main.label))
    _remove_stale_figures(out, figs)
    bar.update(1)
    bar.close()
    return rep


def _test_images(n: int, total: int, name: str) -> str:
    """``all 300 digits test images`` or ``first 2,000 of 10,000 mnist test images`` ("first 300"
    of a set of 300 read as a subset)."""
    return f"{f'first {n:,} of {total:,}' if n < total else f'all {n:,}'} {name} test images"


def _header(run_dir: str | Path, session: Session, main: _Run, runs: list[_Run], data: Dataset, pool: int,
            seed: int) -> dict[str, Any]:
    """report.json's description of the runs: what was analysed, with which seeds, and each
    run's pool metrics, entropy, layer norms and uncertainty."""
    return {
        "run": str(run_dir), "run_id": session.config.run_id,
        "method": session.config.method_name,
        "dataset": data.name, "split": "test", "examples": len(data),
        "target": session.config.target.name, "pool": pool, "seed": seed,
        # The main run's label: the JSON's keys are sorted, so `runs` does not say which it is.
        "main": main.label,
        # The networks each run's sections used: a fixed set holds fewer than --networks asks.
        "pool_by_run": {r.label: r.probs.shape[0] for r in runs},
        # Each label's run folder and run_id: the labels are for reading, these for scripts.
        "run_by_label": {r.label: {"run": str(r.dir.resolve()), "run_id": r.session.config.run_id}
                         for r in runs},
        # Each section draws its networks from its own noise seed: the report's OOD section is
        # not `hyperzoo ood --seed SEED`'s networks.
        "noise_seeds": {"pool": seed, **{k: seed + v for k, v in SEED_OFFSETS.items()}},
        "seed_numbers": seed_numbers_for(data.name, session.config.method_name,
                                         session.config.target.name),
        "runs": {r.label: {**r.metrics, "entropy_estimate": r.entropy, "entropy_d": r.entropy_d,
                           # None where networks coincide: the estimate is then -inf.
                           "coinciding_networks": r.coinciding,
                           "gauge_fixed": r.gauge_fixed,
                           "method": r.session.config.method_name,
                           "layer_norms": _by_label(r.session.target,
                                                    layer_norms(r.session.target, r.weights))}
                 for r in runs},
        "uncertainty": {r.label: r.uncertainty for r in runs},
    }


def _ensemble_section(main: _Run, runs: list[_Run], pooled: Pooled, data: Dataset, g: torch.Generator,
                      out: Path, scope: str) -> Section:
    """Reliability diagrams and accuracy histograms of every run; 20 ensembles of half the main
    pool; accuracy against ensemble size for the main run and every pooled run."""
    figs = {"reliability": figures.reliability_diagram(
        {f"{r.label}: ensemble of {r.probs.shape[0]} (ECE {r.uncertainty['ensemble_ece']:.4f})":
         reliability_bins(mean_prediction(r.probs), data.y) for r in runs}, out / "reliability.png", scope),
        "histogram": figures.accuracy_histograms(
        {r.label: r.accuracies for r in runs},
        {r.label: None if r.entropy is None else (r.entropy, r.entropy_d) for r in runs},
        out / "accuracy_histogram.png", scope, examples=len(data))}
    rep: dict[str, Any] = {}
    size = main.probs.shape[0] // 2
    if size >= 2:  # a pool of 2 or 3 gave "20 ensembles of 1 networks": single networks
        k_ens = ensemble_accuracies(main.probs, data.y, size, 20, g)
        rep["ensembles"] = {"count": 20, "size": size,
                            **{f"{k}_mean": v.mean().item() for k, v in k_ens.items()},
                            **{f"{k}_std": v.std().item() for k, v in k_ens.items()}}
    else:
        rep["ensembles"] = {"count": 0, "size": size}
    rep["ensemble_vs_size"] = accuracy_vs_size(main.probs, data.y, SIZES, SIZE_DRAWS, g)
    rep["ensemble_vs_size_by_run"] = {r.label: accuracy_vs_size(r.probs, data.y, SIZES, SIZE_DRAWS, gr)
                                      for r, _, gr in pooled}
    figs["ensembles"] = figures.ensemble_curve(
        {main.label: (rep["ensemble_vs_size"], main.metrics["mean_accuracy"]),
         **{r.label: (rep["ensemble_vs_size_by_run"][r.label], r.metrics["mean_accuracy"])
            for r, _, _ in pooled}}, out / "ensemble_vs_size.png", scope)
    return rep, figs


def _weights_section(main: _Run, pooled: Pooled, out: Path) -> Section:
    """Seed 001's filter images and PCA views for every pooled run (its MNFG versions: Fig. 5,
    Appendix K): the main run's files keep their names, a compared run's carry its folder name."""
    rep: dict[str, Any] = {"pca_explained_variance_by_run": {}}
    figs: dict[str, str] = {}
    for r, slug, _ in [(main, "", None), *pooled]:
        # Every figure names its run: the main run's had no name beside the compared ones'.
        suffix, of = f"_{slug}" if slug else "", f"{r.label}: "
        coords = "gauge-fixed" if r.gauge_fixed else "raw weights (no gauge for this target)"
        own = r.session.target.layers  # a compared run may have another target
        for layer in range(min(3, len(own) - 1)):
            try:
                imgs = filter_images(r.session.target, r.gauged, layer)
            except NoImageForm:  # a Conv1d's filters: no figure
                continue
            figs[f"filters_layer{layer + 1}{suffix}"] = figures.filter_grid(
                imgs[:25], f"{of}layer {layer_labels(own)[layer]}, filter 1, input channel 1, "
                           f"{min(25, len(imgs))} samples, {coords}",
                out / f"filters_layer{layer + 1}{suffix}.png")
        pool_n = r.probs.shape[0]
        views = pca_views(r.session.target, r.gauged, 5)
        explained = {"filter": {k: p.explained.tolist() for k, p in views["filter"].items()},
                     "layer": {k: p.explained.tolist() for k, p in views["layer"].items()},
                     "network": views["network"].explained.tolist()}
        if r is main:
            rep["pca_explained_variance"] = explained
        else:
            rep["pca_explained_variance_by_run"][r.label] = explained
        figs[f"pca_filter{suffix}"] = figures.pca_panels(
            views["filter"], f"{of}PCA of filter 1 of every layer (weights and bias), {pool_n} sampled "
            f"networks, {coords}", out / f"pca_filter{suffix}.png")
        figs[f"pca_layer{suffix}"] = figures.pca_panels(
            views["layer"], f"{of}PCA of every whole layer, {pool_n} sampled networks, {coords}",
            out / f"pca_layer{suffix}.png")
        figs[f"pca_network{suffix}"] = figures.pca_scatter(
            views["network"].scores, views["network"].explained,
            f"{of}PCA of the whole network, {pool_n} sampled networks, {coords}",
            out / f"pca_network{suffix}.png")
    return rep, figs


def _paths_section(main: _Run, pooled: Pooled, sub: Dataset, path_pairs: int, g: torch.Generator,
                   out: Path) -> Section:
    """Seed 001's paths on ``sub``: interpolated and direct for the main run's latent space;
    direct paths between networks of the pool for a run without one (seed 001 Appendix I:
    MNFG's) and for every pooled run."""
    rep: dict[str, Any] = {"paths_by_run": {}}
    figs: dict[str, str] = {}
    method = main.session.method
    if isinstance(method, LatentMethod):
        paths = path_accuracies(method, sub.x, sub.y, pairs=path_pairs, points=11, generator=g,
                                statistics_x=statistics_images(main.session)
                                if main.session.target.has_statistics else None,
                                bn_batch=main.session.config.data.bn_batch)
        summary = path_summary(paths)
        rep["paths"] = {"t": paths["t"].tolist(), "direct": paths["direct"].tolist(),
                        "interpolated": paths["interpolated"].tolist(), "examples": len(sub),
                        **summary,
                        "direct_midpoint_mean": summary["direct_midpoint"]["mean"],
                        "interpolated_midpoint_mean": summary["interpolated_midpoint"]["mean"],
                        "endpoints_mean": summary["endpoints"]["mean"]}
        figs["paths"] = figures.paths_figure(paths["t"], paths["direct"], paths["interpolated"],
                                             out / "paths.png", examples=len(sub), run=main.label)
    direct_main = [] if isinstance(method, LatentMethod) else [(main, "", g)]
    for r, slug, gr in [*direct_main, *pooled]:
        stats_x = statistics_images(r.session) if r.session.target.has_statistics else None
        if isinstance(r.session.method, LatentMethod):
            paths = path_accuracies(r.session.method, sub.x, sub.y, pairs=path_pairs, points=11,
                                    generator=gr, statistics_x=stats_x,
                                    bn_batch=r.session.config.data.bn_batch)
        else:  # straight lines between networks of the pool (no latent space to interpolate in)
            k = min(path_pairs, r.probs.shape[0] // 2)
            paths = direct_path_accuracies(r.session.target, select(r.weights, slice(0, k)),
                                           select(r.weights, slice(k, 2 * k)), sub.x, sub.y,
                                           points=11, statistics_x=stats_x,
                                           bn_batch=r.session.config.data.bn_batch)
        rep["paths_by_run"][r.label] = {"t": paths["t"].tolist(), "examples": len(sub),
                                        **{k: v.tolist() for k, v in paths.items() if k != "t"},
                                        **path_summary(paths)}
        name = f"paths_{slug}" if slug else "paths"
        figs[name] = rep["paths_by_run"][r.label]["figure"] = figures.paths_figure(
            paths["t"], paths["direct"], paths.get("interpolated"), out / f"{name}.png",
            examples=len(sub), run=r.label)
    return rep, figs


def _adversarial_section(main: _Run, pooled: Pooled, adv_data: Dataset, total: int, seed: int, out: Path,
                         bar: tqdm) -> Section:
    """Seed 000's targeted attacks on the main run and (seed 001 Fig. 8b: MNFG beside the
    hypernetwork) on every pooled run; ``bar`` advances per attack and ε."""
    adv = _adversarial(main, adv_data, EPSILONS, crafters=10,
                       fresh=min(ADVERSARIAL_FRESH, main.probs.shape[0]), pgd_steps=10, seed=seed, bar=bar)
    by_run = {r.label: _adversarial(r, adv_data, EPSILONS, crafters=10,
                                    fresh=min(ADVERSARIAL_FRESH, r.probs.shape[0]), pgd_steps=10, seed=seed,
                                    bar=bar)
              for r, _, _ in pooled}
    curves = {}
    for label, a in {main.label: adv, **by_run}.items():
        scorer = "its ensemble" if pooled else a["scored_on"]  # each run's own in the tables
        # Each run's own count (its crafting networks classify other examples right) and its own
        # ensemble: a fresh one of a hypernetwork, the other members of a fixed set (transfer).
        curves[f"{label} ({a['examples']:,} attacked; ensemble: {a['scored_on']})" if pooled else ""] = {
            "FGSM, network it was crafted on": a["fgsm"]["single_network"],
            f"FGSM, {scorer}": a["fgsm"]["fresh_ensemble"],
            "PGD, network it was crafted on": a["pgd"]["single_network"],
            f"PGD, {scorer}": a["pgd"]["fresh_ensemble"]}
    right = (f"{adv['examples']:,} of them" if not pooled else "each run's count in its label:")
    fewest = min(a["examples"] for a in (adv, *by_run.values()))
    spread = (f"; a rate's standard error is up to {50 / fewest ** 0.5:.0f} points at {fewest:,} examples"
              if fewest else "")
    fig = figures.adversarial_figure(
        EPSILONS, curves, out / "adversarial.png",
        f"{_test_images(adv['attempted'], total, adv_data.name)}, {right} classified right by the network "
        f"an example is crafted on{spread}")
    return {"adversarial": adv, "adversarial_by_run": by_run}, {"adversarial": fig}


def _detection_section(runs: list[_Run], adv_data: Dataset, total: int, eps: float, sizes: list[int],
                       transfer_networks: int, seed: int, out: Path, bar: tqdm) -> Section:
    """Seed 002's adversarial detection by each run's ensembles of ``sizes`` (``bar`` advances per
    run), and how one network's FGSM and PGD examples transfer to the others (Fig. 4)."""
    detection = {"eps": eps, "pgd_steps": 10, "examples": len(adv_data), "rows": []}
    for r in runs:
        detection["rows"] += _detection(r, adv_data, eps, 10, seed, sizes, pgd_max=100)
        bar.update(1)
    figs = {"adversarial_detection": figures.detection_figure(
        detection["rows"], out / "adversarial_detection.png",
        f"ε = {eps:g}, PGD 10 steps, {_test_images(len(adv_data), total, adv_data.name)}")}
    transferred, curves = {}, {}
    for r in runs:
        res = _transfer(r, adv_data, eps, transfer_networks, seed)
        if res is not None:
            transferred[r.label], c = res
            curves.update(c)
    figs["transfer"] = figures.transfer_figure(curves, eps, out / "transfer.png")
    return {"adversarial_detection": detection, "transfer": transferred}, figs


def _ambiguous_section(main: _Run, data: Dataset, count: int, out: Path) -> Section:
    """Seed 002 Fig. 7: the ``count`` test images the main run's networks disagree on most
    (mutual information), with their votes."""
    amb = ambiguous_examples(main.probs, count, "mutual_information")
    entry = {"score": "mutual_information", "networks": main.probs.shape[0], "run": main.label,
             **{k: v.tolist() for k, v in amb.items()}, "labels": data.y[amb["indices"]].tolist()}
    fig = figures.ambiguous_grid(data.x[amb["indices"]], amb["votes"], data.y[amb["indices"]],
                                 amb["scores"], "MI", out / "ambiguous.png",
                                 score_help="mutual information in nats", run=main.label,
                                 indices=amb["indices"].tolist())
    return {"ambiguous": entry}, {"ambiguous": fig}


def _ood_section(runs: list[_Run], data: Dataset, outliers: tuple[Dataset, float], networks: int,
                 seed: int, out: Path) -> Section:
    """Out-of-distribution detection of ``outliers`` by every run, and the main run's most
    confident outliers (seed 002 Fig. 7's bottom row)."""
    entry = _ood(runs, data, *outliers, networks, seed, out)
    # The confident outliers' figure is counted with the rest.
    return {"ood": entry}, {"ood": entry["figure"],
                            "confident_outliers": entry["confident_outliers"]["figure"]}


def _remove_stale_figures(out: Path, figs: dict[str, str]) -> None:
    """Delete the report figures in ``out`` that this report did not write: an earlier one's
    (its OOD section, a compared run) stayed beside a report.md that no longer named them."""
    kept = {Path(f).name for f in figs.values()}
    for f in out.iterdir():
        if f.suffix == ".png" and report_file(f.name) and f.name not in kept:
            f.unlink()


def regression_report(run_dir: str | Path, session: Session, test: Dataset, out: Path, networks: int,
                      seed: int, start: float) -> dict[str, Any]:
    """A regression run with one input: test and training error of single networks and of their
    mean, predictive spread inside vs outside the training inputs, regression.png."""

    d = session.config.data
    train = load_split(d, "train", task=session.method.task)
    rep, curves, grid = regression_summary(session, train, test, networks, seed)
    claim_result_dir(out, "report")
    fig = plot_regression(curves, grid, train, out / "regression.png",
                          truth="rmse_to_true_function_inside" in rep)  # the built-in cubic set
    rep = {"run": str(run_dir), "method": session.config.method_name,
           "target": session.config.target.name, **rep, "examples": len(test),
           # A name in the folder, as the classification report's: a path broke when it moved.
           "figures": {"regression": Path(fig).name},
           "seconds": round(time.perf_counter() - start, 1)}
    atomic_write_json(out / "report.json", rep)
    t, s = rep["test"], rep
    lines = [f"# Regression report: {Path(run_dir).name}", "",
             f"{rep['method']} on {rep['target']}, data set {rep['dataset']}, {networks} sampled networks "
             f"(noise seed {seed}); test set of {len(test)} examples.", "",
             "| | single networks (mean ± std) | ensemble mean |", "|---|---|---|",
             f"| test RMSE | {t['mean_rmse']:.3f} ± {t['std_rmse']:.3f} | {t['ensemble_rmse']:.3f} |",
             f"| training RMSE | {s['train']['mean_rmse']:.3f} ± {s['train']['std_rmse']:.3f} | "
             f"{s['train']['ensemble_rmse']:.3f} |", "",
             "Predictive std (over networks) inside the training inputs' range "
             f"{s['mean_std_inside_data_range']:.2f}, "
             f"outside it {s['mean_std_outside_data_range']:.2f}; test Gaussian NLL of the ensemble "
             f"{gaussian_nll_text(t)}.", "", "![regression](regression.png)", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    _remove_stale_figures(out, rep["figures"])
    return rep


def _pools(rep: dict[str, Any]) -> str:
    """The pools the runs used: --networks sampled, or a fixed set's own size where smaller."""
    sizes = rep.get("pool_by_run", {})
    if not sizes or set(sizes.values()) == {rep["pool"]}:
        return f"pool of {rep['pool']} sampled networks per run"
    return "pools of " + ", ".join(f"{n} ({label})" for label, n in sizes.items()) + " networks"


def _n(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural where it is not 1 ("1 pairs" before)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _shares(explained: list[float]) -> str:
    """Explained-variance ratios in %; networks identical there have none to share out."""
    if not any(explained):
        return "no variance (the same in every network)"
    return ", ".join(f"{100 * v:.1f}" for v in explained)


def _entropy_cell(m: dict[str, Any]) -> str:
    if m.get("coinciding_networks"):
        return f"−∞ ({m['coinciding_networks']} networks coincide)"
    return "—" if m["entropy_estimate"] is None else format(m["entropy_estimate"], ".0f")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def _dip_verdict(p: dict[str, Any]) -> tuple[float, str]:
    """The standard error over pairs of a run's interpolated-minus-direct gap, and what it shows
    against seed 001 Fig. 7 (a compared run's numbers were given without one)."""
    gap = p["interpolated_minus_direct"]
    sem = gap["std"] / p["pairs"] ** 0.5
    return sem, ("one pair has no spread over pairs, so no verdict (--path-pairs 2 or more)"
                 if p["pairs"] < 2 else
                 "the direct path dips below the interpolated one, as in seed 001 Fig. 7"
                 if gap["mean"] > 2 * sem else
                 "the direct path does NOT dip below the interpolated one here, unlike seed 001 Fig. 7"
                 if gap["mean"] < -2 * sem else
                 "the two paths do not differ by more than two standard errors over pairs: no "
                 "dip resolved, unlike seed 001 Fig. 7")


def _binomial_se(rate: float, n: int) -> float:
    """The standard error of a rate measured on ``n`` examples."""
    return (rate * (1 - rate) / n) ** 0.5 if n else float("nan")


def _auroc(m: dict[str, Any]) -> str:
    """An AUROC with its standard error where the metrics carry one (results from before: alone)."""
    return f"{m['auroc']:.3f}" + (f" ± {m['auroc_se']:.3f}" if m.get("auroc_se") is not None else "")


def _pm(row: dict[str, Any], key: str) -> str:
    """``key``'s mean ± std over draws in a row of `accuracy_vs_size`; the pool's own size, one
    draw, has no spread to give (it printed ± 0.00%)."""
    mean, std = _pct(row[f"{key}_mean"]), row[f"{key}_std"]
    return f"{mean} ± {_pct(std)}" if std is not None else f"{mean} (the pool)"


_SIZE_TABLE = ["| size | mean prob. | majority |", "|---|---|---|"]
_SIZE_NOTE = (f"Mean ± std over {SIZE_DRAWS} ensembles drawn from the pool per size (size 1: every "
              "network of the pool; the pool's own size: one draw, no spread). Drawn from one pool, they "
              "overlap, the more so near its size: the spread understates that of independent ensembles.")


def _markdown(rep: dict[str, Any], main: str) -> str:
    lines = [f"# hyperzoo report: {main}", "",
             f"Test set: {rep['dataset']} ({rep['examples']} examples); {_pools(rep)}, seed "
             f"{rep['seed']}. Every number is in `report.json`.", "",
             "## Accuracy of sampled networks", "",
             "Ĥ: the Kozachenko–Leonenko entropy estimate of the gauge-fixed weights of the pool, in "
             "nats (seed 000 eq. 14), with d the latent space's dimension for a hypernetwork and the "
             "number of weights otherwise (`entropy_d`): values of different d are not comparable; — "
             "for a target without a gauge; −∞ where networks of the pool coincide.", "",
             "| run | single mean ± std | min / max | ensemble (mean prob.) | ensemble (majority) | Ĥ |",
             "|---|---|---|---|---|---|"]
    for label, m in rep["runs"].items():
        lines.append(f"| {label} | {_pct(m['mean_accuracy'])} ± {_pct(m['std_accuracy'])} | "
                     f"{_pct(m['min_accuracy'])} / {_pct(m['max_accuracy'])} | "
                     f"{_pct(m['ensemble_accuracy'])} | {_pct(m['majority_accuracy'])} | "
                     f"{_entropy_cell(m)} |")
    e = rep["ensembles"]
    seed_ens = rep["seed_numbers"].get("ensemble_majority_20x200")
    lines += ["", f"![histogram]({rep['figures']['histogram']})", ""]
    lines += _uncertainty_markdown(rep)
    drawn = (f"{e['count']} ensembles of {e['size']} networks drawn from the pool (they overlap): "
             f"majority vote {_pct(e['majority_mean'])} ± {_pct(e['majority_std'])}, mean probability "
             f"{_pct(e['mean_prob_mean'])} ± {_pct(e['mean_prob_std'])}." if e["count"]
             else "The pool is too small for ensembles of half of it (2 networks or more).")
    lines += ["## Ensembles", "", drawn
              # Not the seed's protocol, which `evaluate --ensembles 20 --networks 200 --split val` is.
              + (f" Seed, 20 independent ensembles of 200 (`evaluate --ensembles 20 --networks 200 "
                 f"--split val` draws those): {_pct(seed_ens['value'])} "
                 f"({seed_ens['source']})." if seed_ens else ""), "",
              _SIZE_NOTE, "", *_SIZE_TABLE]
    lines += [f"| {r['size']} | {_pm(r, 'mean_prob')} | {_pm(r, 'majority')} |"
              for r in rep["ensemble_vs_size"]]
    t4 = rep["seed_numbers"].get("hypergan_table4_mnist")
    by_size = {r["size"]: r for r in rep["ensemble_vs_size"]}
    if t4 and all(k in by_size for k in t4["value"]):
        lines += ["", "Seed 002 Table 4 (mean-probability ensembles of the main run; seed numbers "
                  f"from {t4['source']}):", "", "| networks | ours | seed 002 |", "|---|---|---|"]
        lines += [f"| {k} | {_pm(by_size[k], 'mean_prob')} | {_pct(v)} |" for k, v in t4["value"].items()]
    for label, rows in rep.get("ensemble_vs_size_by_run", {}).items():
        lines += ["", f"{label}:", "", *_SIZE_TABLE]
        lines += [f"| {r['size']} | {_pm(r, 'mean_prob')} | {_pm(r, 'majority')} |" for r in rows]
    lines += ["", f"![ensembles]({rep['figures']['ensembles']})", "", "## Diversity probes", ""]
    lines += [f"![{k}]({v})" for k, v in rep["figures"].items() if k.startswith("filters")]
    pv = rep["pca_explained_variance"]
    coords = "gauge-fixed" if rep["runs"][main]["gauge_fixed"] else "raw (this target has no gauge)"
    lines += ["", f"Seed 001's PCA views (Fig. 6, 9–15) of the {coords} weights: explained variance of "
              "the first principal components, in %. A variance concentrated in PC1 is a "
              "one-dimensional structure; equal shares an isotropic blob.", "",
              "| layer | filter 1 (weights + bias) | whole layer |", "|---|---|---|"]
    for name in pv["layer"]:
        lines.append(f"| {name} | {_shares(pv['filter'][name])} | {_shares(pv['layer'][name])} |")
    lines += [f"| whole network | | {_shares(pv['network'])} |"]
    for label, pv in rep.get("pca_explained_variance_by_run", {}).items():
        lines += ["", f"{label}:", "",
                  "| layer | filter 1 (weights + bias) | whole layer |", "|---|---|---|"]
        lines += [f"| {name} | {_shares(pv['filter'][name])} | {_shares(pv['layer'][name])} |"
                  for name in pv["layer"]]
        lines += [f"| whole network | | {_shares(pv['network'])} |"]
    lines += [""] + [f"![{k}]({v})" for k, v in rep["figures"].items() if k.startswith("pca")]
    if "paths" in rep:
        p = rep["paths"]
        d, i = p["direct_dip"], p["interpolated_dip"]
        gap = p["interpolated_minus_direct"]
        sem, verdict = _dip_verdict(p)
        lines += ["", "### Paths in weight space (seed 001 Fig. 7)", "",
                  f"{_n(p['pairs'], 'pair')} (z₁, z₂), 11 points each, on {p['examples']} test images. "
                  "Mean ± sample std over pairs: accuracy at the endpoints "
                  f"{_pct(p['endpoints']['mean'])} ± {_pct(p['endpoints']['std'])}; at t = "
                  f"{p['midpoint_t']:g} the interpolated path G(z₁t + z₂(1−t)) has "
                  f"{_pct(p['interpolated_midpoint']['mean'])} ± {_pct(p['interpolated_midpoint']['std'])}, "
                  f"the direct path G(z₁)t + G(z₂)(1−t) {_pct(p['direct_midpoint']['mean'])} ± "
                  f"{_pct(p['direct_midpoint']['std'])}. Dip at the midpoint (endpoints' mean minus "
                  f"midpoint): direct {_pct(d['mean'])} ± {_pct(d['std'])}, interpolated "
                  f"{_pct(i['mean'])} ± {_pct(i['std'])}; interpolated minus direct "
                  f"{_pct(gap['mean'])} ± {_pct(gap['std'])} (standard error {_pct(sem)}): {verdict}. "
                  f"One test image is {_pct(1 / p['examples'])}.", "",
                  f"![paths]({rep['figures']['paths']})"]
    if "paths" not in rep and rep.get("paths_by_run"):
        lines += ["", "### Paths in weight space (seed 001 Fig. 7, Appendix I)"]
    for label, p in rep.get("paths_by_run", {}).items():
        d = p["direct_dip"]
        sem = d["std"] / p["pairs"] ** 0.5
        both = "interpolated_dip" in p
        lines += ["", f"{label}: {_n(p['pairs'], 'pair')} of sampled networks on {p['examples']} test images"
                  + ("" if both else " (no latent space: the direct path only)") + ": endpoints "
                  f"{_pct(p['endpoints']['mean'])} ± {_pct(p['endpoints']['std'])}, direct path at t = "
                  f"{p['midpoint_t']:g} {_pct(p['direct_midpoint']['mean'])} ± "
                  f"{_pct(p['direct_midpoint']['std'])}, dip {_pct(d['mean'])} ± {_pct(d['std'])} "
                  f"(standard error {_pct(sem)})"
                  + (f"; interpolated dip {_pct(p['interpolated_dip']['mean'])} ± "
                     f"{_pct(p['interpolated_dip']['std'])}: {_dip_verdict(p)[1]}" if both else "")
                  + ("." if both else ". Seed 001 Appendix I: for MNFG the direct path keeps its accuracy."),
                  "",
                  f"![paths of {label}]({p['figure']})"]
    lines += _norms_markdown(rep)
    a = rep["adversarial"]
    lines += ["", "## Adversarial examples (targeted, seed 000 §4.2.3)", "",
              f"{a['examples']} of {a['attempted']} test examples (split among "
              f"{_n(a['crafted_on'], 'sampled network')}, each attacking those of its share it classifies "
              f"correctly; {a.get('crafting_networks', a['crafted_on'])} of them classified at least one "
              "of its share right), each with a "
              f"random wrong target class; success = that network, or {a['scored_on']} (mean "
              f"probability), predicts the target. PGD: "
              f"{a['pgd_steps']} steps. Seed 000 Fig. 6 shows the same curves for FGSM (figure only, "
              "no numbers): lower success against the ensemble.", "",
              "| ε | FGSM single | FGSM ensemble | PGD single | PGD ensemble |", "|---|---|---|---|---|"]
    for i, eps in enumerate(a["epsilons"]):
        lines.append(f"| {eps:g} | {_pct(a['fgsm']['single_network'][i])} | "
                     f"{_pct(a['fgsm']['fresh_ensemble'][i])} | {_pct(a['pgd']['single_network'][i])} | "
                     f"{_pct(a['pgd']['fresh_ensemble'][i])} |")
    for label, a in rep.get("adversarial_by_run", {}).items():
        lines += ["", f"{label} ({a['examples']} examples, scored on {a['scored_on']}; "
                  "seed 001 Fig. 8b compares MNFG):", "",
                  "| ε | FGSM single | FGSM ensemble | PGD single | PGD ensemble |", "|---|---|---|---|---|"]
        lines += [f"| {eps:g} | {_pct(a['fgsm']['single_network'][i])} | "
                  f"{_pct(a['fgsm']['fresh_ensemble'][i])} | {_pct(a['pgd']['single_network'][i])} | "
                  f"{_pct(a['pgd']['fresh_ensemble'][i])} |" for i, eps in enumerate(a["epsilons"])]
    lines += ["", f"![adversarial]({rep['figures']['adversarial']})", ""]
    d = rep["adversarial_detection"]
    sd = rep["seed_numbers"].get("hypergan_adversarial_detection")
    lines += ["## Adversarial detection (untargeted, seed 002 §4.5)", "",
              f"FGSM and PGD ({d['pgd_steps']} steps), ε = {d['eps']:g}, against an ensemble of N "
              f"networks (logits averaged) on {d['examples']} test examples; scored by the predictive "
              "entropy of a fresh ensemble of N (a generator of networks) or of the attacked ensemble "
              "itself (a fixed ensemble). Detected = entropy above the 95th percentile of clean "
              "examples." + (f" Seed: {_pct(sd['value'])} ({sd['source']})." if sd else ""), "",
              "Each rate ± its binomial standard error over the examples, each AUROC ± its standard "
              "error (Hanley & McNeil): a difference within about two of them is not a result.", "",
              "| run | attack | N | error, attacked | error, scoring | detected at 5% FPR | AUROC |",
              "|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        rate = r["detection_rate_at_5_fpr"]
        lines.append(f"| {r['run']} | {r['attack'].upper()} | {r['size']} | "
                     f"{_pct(r['error_attacked_ensemble'])} | {_pct(r['error_scoring_ensemble'])} | "
                     f"{_pct(rate)} ± {_pct(_binomial_se(rate, d['examples']))} | {_auroc(r)} |")
    lines += ["", f"![adversarial detection]({rep['figures']['adversarial_detection']})", ""]
    lines += _transfer_markdown(rep)
    amb = rep["ambiguous"]
    lines += ["## Ambiguous test images (seed 002 Fig. 7)", "",
              f"The {len(amb['indices'])} test images with the highest mutual information (entropy of "
              "the mean prediction minus the mean entropy: how much the "
              f"{amb['networks']} sampled networks disagree; seed 002 ranks by the predictive entropy, "
              "which is high also where every network is unsure alike), with the networks' two most "
              "voted classes.", "",
              "| test index | label | MI (nats) | most votes | second |", "|---|---|---|---|---|"]
    for idx, lab, sc, (c1, c2), (f1, f2) in zip(amb["indices"], amb["labels"], amb["scores"],
                                               amb["top2_classes"], amb["top2_fractions"], strict=True):
        lines.append(f"| {idx} | {lab} | {sc:.3f} | {c1} ({_pct(f1)}) | {c2} ({_pct(f2)}) |")
    lines += ["", f"![ambiguous]({rep['figures']['ambiguous']})", ""]
    if "ood" in rep:
        o = rep["ood"]
        lines += ["## Out-of-distribution detection (seed 002 §4.4)", "",
                  f"Two scores of each input, from the sampled networks' predictions: the predictive "
                  "entropy of the ensemble's mean prediction (total uncertainty) and the mutual "
                  "information (entropy of the mean minus mean entropy: the networks' disagreement; 0 "
                  f"for one network). {o['n_inliers']} {rep['dataset']} test images (inliers) vs "
                  f"{o['n_outliers']} {o['outliers']} images; positive class: {o['positive_class']} "
                  f"({_pct(o['image_overlap'])} of the outliers also occur among the inliers). The "
                  "networks are a fresh draw of `--ood-networks` per run (noise seed in `noise_seeds`; "
                  "a fixed set: its own). Seed 002 gives CDF figures of the entropy only, no AUROC.", "",
                  "| run | networks | score | AUROC ± s.e. | AUPR | FPR at 95% TPR | mean score in / out |",
                  "|---|---|---|---|---|---|---|"]
        for label, m in o["runs"].items():
            for name, s in m["scores"].items():
                lines.append(f"| {label} | {m['n_networks']} | {name.replace('_', ' ')} | {_auroc(s)} | "
                             f"{s['aupr']:.3f} | {_pct(s['fpr_at_95_tpr'])} | {s['mean_inliers']:.3f} / "
                             f"{s['mean_outliers']:.3f} |")
        lines += ["", f"![ood]({o['figure']})", ""]
        if "confident_outliers" in o:
            c = o["confident_outliers"]
            lines += [f"The {len(c['indices'])} {o['outliers']} images of least predictive entropy (seed 002 "
                      f"Fig. 7, bottom row: outliers the {c['networks']} networks of "
                      f"{next(iter(o['runs']))} agree on), entropy "
                      + ", ".join(f"{h:.3f}" for h in c["entropy"]) + " nats.", "",
                      f"![confident outliers]({c['figure']})", ""]
    lines += [f"Report computed in {rep['seconds']} s.", ""]
    return "\n".join(lines)


def _uncertainty_markdown(rep: dict[str, Any]) -> list[str]:
    """The uncertainty section: single networks (mean ± std) and the mean-probability ensemble."""
    bins = next(iter(rep["uncertainty"].values()))["ece_bins"]
    lines = ["## Uncertainty", "",
             "Single networks: mean ± std over the pool; ensemble: the pool's mean probability. NLL in "
             f"nats; Brier summed over classes; ECE top-label with {bins} equal-width bins; AURC: area "
             "under the risk–coverage curve, abstaining on the lowest max-probability first (lower is "
             "better for all four). Disagreement: mean fraction of network pairs with different "
             "argmax; mutual information: entropy of the mean minus mean entropy (nats).", "",
             "| run | networks | NLL | Brier | ECE | AURC | disagreement | MI |",
             "|---|---|---|---|---|---|---|---|"]
    keys = ("nll", "brier", "ece", "aurc")
    for label, u in rep["uncertainty"].items():
        lines.append(f"| {label} | single | "
                     + " | ".join(f"{u['mean_' + k]:.4f} ± {u['std_' + k]:.4f}" for k in keys) + " | | |")
        lines.append("| | ensemble | " + " | ".join(f"{u['ensemble_' + k]:.4f}" for k in keys)
                     + f" | {_pct(u['disagreement'])} | {u['mutual_information']:.4f} |")
    return lines + ["", f"![reliability]({rep['figures']['reliability']})", ""]


def _transfer_markdown(rep: dict[str, Any]) -> list[str]:
    """Seed 002 Fig. 4: how many networks of a pool one network's adversarial examples fool."""
    lines = ["## Transfer across the pool (seed 002 Fig. 4)", ""]
    if not rep["transfer"]:
        return lines + ["No run holds two networks or more.", ""]
    t = next(iter(rep["transfer"].values()))
    lines += [f"Untargeted FGSM and PGD (10 steps), ε = {t['eps']:g}, crafted on one network of each "
              f"run against those of the first {t['examples']} test images it classifies correctly "
              "(attacked), then scored on a pool of other networks of the run (a fresh sample; the "
              "rest of a fixed set). Fooled = "
              "the network's prediction is not the true label. Over the examples that fool the network "
              "they were crafted on: the mean and median fraction of the pool they fool, and the share "
              "of them that fool none / at least half / all of it; the clean images' mean is the "
              "baseline.", "",
              "| run | attack | pool | attacked | fool their network | mean (median) fooled | "
              "none / ≥ half / all | clean |", "|---|---|---|---|---|---|---|---|"]
    for label, t in rep["transfer"].items():
        for attack in ("fgsm", "pgd"):
            a = t[attack]
            lines.append(f"| {label} | {attack.upper()} | {t['pool']} | {a['attacked']} | "
                         f"{a['fool_crafting']} | "
                         f"{_pct(a['mean_fraction'])} ({_pct(a['median_fraction'])}) | "
                         f"{_pct(a['share_fooling_none'])} / {_pct(a['share_fooling_half_or_more'])} / "
                         f"{_pct(a['share_fooling_all'])} | {_pct(a['mean_fraction_on_clean'])} |")
    return lines + ["", f"![transfer]({rep['figures']['transfer']})", ""]


def _norms_markdown(rep: dict[str, Any]) -> list[str]:
    """Seed 002 Table 3: mean and variance over networks of each layer's weight 2-norm, with the
    seed's numbers in its own setting and independently trained networks (method ensemble)."""
    lines = ["", "### Layer-wise weight norms (seed 002 Table 3)", "",
             "Mean and variance σ² over networks of each layer's weight 2-norm (Frobenius norm of the "
             "weight tensor, biases excluded, raw weights: not gauge-fixed), as `mean (σ²)`.", ""]
    standard = [label for label, m in rep["runs"].items() if m.get("method") == "ensemble"]
    seed = rep["seed_numbers"].get("hypergan_table3_mnist")
    groups: dict[tuple[str, ...], list[str]] = {}  # runs on the same target share a table
    for label, m in rep["runs"].items():
        groups.setdefault(tuple(m["layer_norms"]), []).append(label)
    for layers, labels in groups.items():
        lines += ["| networks | " + " | ".join(layers) + " | mean single accuracy |",
                  "|---|" + "---|" * (len(layers) + 1)]
        for label in labels:
            m = rep["runs"][label]
            kind = "standard training (independent networks), " if label in standard else ""
            lines.append(f"| {kind}{label}, {_n(m['n_networks'], 'network')} | " + " | ".join(
                f"{v['mean']:.2f} ({'—' if v['var'] is None else format(v['var'], '.2f')})"
                for v in m["layer_norms"].values())
                + f" | {_pct(m['mean_accuracy'])} |")
        # The seed's rows are for the main run's setting: its table only (another target of three
        # layers matched on the count alone).
        if seed and rep.get("main", labels[0]) in labels and len(layers) == len(seed["value"]["hypergan"]):
            for key, name in (("hypergan", "seed 002: HyperGAN"),
                              ("standard", "seed 002: standard training, 10")):
                lines.append(f"| {name} | " + " | ".join(
                    f"{m:.2f} ({v:.2f})" for m, v in seed["value"][key].values()) + " | 99% (stated) |")
        lines.append("")
    if seed:
        lines += [f"Seed numbers: {seed['source']}; statistic {seed['statistic']}.", ""]
    if not standard:
        lines += ["The standard-training column needs an independently trained ensemble in the report: "
                  "pass one (method `ensemble`, trained to 99% on the same target) with `--compare`.", ""]
    return lines

"""Seed 001's MNIST recipe at paper scale (13,000 steps), several settings side by side (issue 14).

Each setting is a finished run folder (or its committed copy under experiments/results/) holding
``metrics.jsonl``, ``metrics-test.json`` (``hyperzoo evaluate RUN --networks 200``) and an OOD
result: ``ood/ood.json`` (``hyperzoo ood RUN --outliers notmnist --networks 100 --limit 2000``) or
a report's ``report/report.json``. Writes report.json, report.md and training.png (validation
accuracy, the entropy estimate and the learning rate against the step) into --out, and says per
setting whether it meets issue 14's target: an ensemble of 100 at >= 99.0% test accuracy with a
notMNIST AUROC >= 0.95 by predictive entropy.

    python experiments/paper_scale.py --out experiments/results/deutsch-mnist-paper-settings \\
        --run "λ = 10³, constant (the paper)=experiments/results/deutsch-mnist-paper" \\
        --run "λ = 10⁴, cosine=experiments/results/deutsch-mnist-paper-cos-lam1e4"

Runs given the same label are training seeds of one setting (each row names its ``train.seed``
from the run's config.yaml). Where at least two settings have two or more seeds, the report also
sets the spread across settings against the spread across seeds: per quantity, a one-way
analysis of variance over those settings (F and its p-value) and both standard deviations.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

import matplotlib
import yaml
from scipy import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hyperzoo.figures import save_figure  # noqa: E402
from hyperzoo.runs import read_metrics  # noqa: E402
from hyperzoo.weights import atomic_write_json, atomic_write_text  # noqa: E402

TARGET_ACCURACY, TARGET_AUROC = 0.99, 0.95
# training.png's accuracy axis: from this many percent, or lower where a curve goes lower after
# its first VALIDATIONS_SKIPPED validations (steps 0 and 500 sit far below the rest).
ACCURACY_FLOOR, VALIDATIONS_SKIPPED = 97.5, 2
# Compared across settings and seeds: (name, how to read it off a summary, format).
QUANTITIES = {
    "single_mean": (lambda s: s["single_mean"], "{:.2%}"),
    "ensemble_of_100": (lambda s: s["ensemble_of_100"], "{:.2%}"),
    "ensemble_nll": (lambda s: s["ensemble_nll"], "{:.4f}"),
    "disagreement": (lambda s: s["disagreement"], "{:.2%}"),
    "auroc_entropy": (lambda s: s["ood"]["entropy"], "{:.3f}"),
    "auroc_mutual_information": (lambda s: s["ood"]["mutual_information"], "{:.3f}"),
}


def ood_of(run: Path) -> dict[str, Any]:
    """The run's notMNIST scores by entropy and mutual information (100 networks, 2,000 + 2,000)."""
    if (run / "ood" / "ood.json").is_file():
        o = json.loads((run / "ood" / "ood.json").read_text())
        return {"source": "ood/ood.json", "n_networks": o["n_networks"], "n_inliers": o["n_inliers"],
                "n_outliers": o["n_outliers"], **{k: v["auroc"] for k, v in o["scores"].items()}}
    full = json.loads((run / "report" / "report.json").read_text())
    report = full["ood"]
    # The report labels each run "FOLDER (method...)"; its own run is the one it was made of.
    own = Path(full["run"]).name + " ("
    mine = [v for k, v in report["runs"].items() if k.startswith(own)]
    if len(mine) != 1:
        raise SystemExit(f"{run}: report/report.json has no single OOD entry labelled {own}...)")
    return {"source": "report/report.json", "n_networks": mine[0]["n_networks"],
            "n_inliers": report["n_inliers"], "n_outliers": report["n_outliers"],
            **{k: v["auroc"] for k, v in mine[0]["scores"].items()}}


def summarise(label: str, run: Path) -> dict[str, Any]:
    test = json.loads((run / "metrics-test.json").read_text())
    ood = ood_of(run)
    rows = read_metrics(run)
    val = [r for r in rows if "val_mean_accuracy" in r]
    of_100 = test["ensemble_accuracy_by_size"]["100"]
    # Seed 001's own protocol, where the run has it: 20 ensembles of 200, majority, validation.
    val_file = run / "metrics-val.json"
    seed_protocol = (json.loads(val_file.read_text()).get("independent_ensembles")
                     if val_file.is_file() else None)
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    return {
        "label": label, "run": str(run), "seed": config.get("train", {}).get("seed"),
        "steps": rows[-1]["step"],
        "test_networks": test["n_networks"], "test_examples": test["n_examples"],
        "single_mean": test["mean_accuracy"], "single_std": test["std_accuracy"],
        "ensemble_of_100": of_100, "ensemble_of_pool": test["ensemble_accuracy"],
        "single_nll": test["mean_nll"], "ensemble_nll": test["ensemble_nll"],
        "ensemble_ece": test["ensemble_ece"], "disagreement": test["disagreement"],
        "entropy_estimate": test["entropy_estimate"], "ood": ood,
        "seed_protocol": seed_protocol and {k: seed_protocol[k] for k in
                                            ("count", "size", "majority_mean", "majority_std")},
        "meets_target": of_100 >= TARGET_ACCURACY and ood["entropy"] >= TARGET_AUROC,
        "curve": {k: [r[k] for r in val]
                  for k in ("step", "val_mean_accuracy", "val_ensemble_accuracy", "entropy", "lr")},
        **{k: test[k] for k in ("train_seconds", "train_seconds_from_step") if k in test},
    }


def settings_against_seeds(settings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """For the labels with two or more runs (seeds), per quantity: each setting's values and
    mean, the seeds' pooled standard deviation within a setting, the standard deviation of the
    settings' means, and a one-way ANOVA of the settings (None with fewer than two such labels)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in settings:
        groups.setdefault(s["label"], []).append(s)
    groups = {label: runs for label, runs in groups.items() if len(runs) >= 2}
    if len(groups) < 2:
        return None
    out: dict[str, Any] = {"settings": {label: [r["seed"] for r in runs] for label, runs in groups.items()},
                           "quantities": {}}
    for name, (read, _) in QUANTITIES.items():
        values = [[read(r) for r in runs] for runs in groups.values()]
        means = [statistics.fmean(v) for v in values]
        within = sum((x - m) ** 2 for v, m in zip(values, means, strict=True) for x in v)
        dof = sum(map(len, values)) - len(values)
        anova = stats.f_oneway(*values)
        out["quantities"][name] = {
            "values": dict(zip(groups, values, strict=True)), "means": dict(zip(groups, means, strict=True)),
            "seed_std_pooled": math.sqrt(within / dof), "settings_std": statistics.stdev(means),
            # JSON has neither NaN nor infinity: F is None when undefined (no spread at all) and
            # when infinite (seeds agree exactly, settings differ: p = 0, kept).
            **{k: float(v) if math.isfinite(v) else None
               for k, v in (("f", anova.statistic), ("p", anova.pvalue))},
            "f_infinite": bool(math.isinf(anova.statistic)),
            "dof": [len(values) - 1, dof]}
    return out


def _seed_lines(comparison: dict[str, Any]) -> list[str]:
    labels = list(comparison["settings"])
    lines = ["## Settings against seeds", "",
             f"Settings with two or more training seeds ({', '.join(labels)}). Per quantity: each "
             "setting's mean over its seeds, the seeds' pooled standard deviation within a setting, "
             "the standard deviation of the settings' means, and a one-way ANOVA of the settings "
             "(F with its degrees of freedom, p). A large p: the settings' differences are within what "
             "their seeds' spread could make (with two seeds a setting, only large differences show).",
             "",
             f"| quantity | {' | '.join(labels)} | seeds' std | settings' std | F | p |",
             "|---|" + "---|" * (len(labels) + 4)]
    for name, q in comparison["quantities"].items():
        fmt = QUANTITIES[name][1]
        lines.append(f"| {name} | {' | '.join(fmt.format(q['means'][label]) for label in labels)} | "
                     f"{fmt.format(q['seed_std_pooled'])} | {fmt.format(q['settings_std'])} | "
                     + _anova_cells(q))
    return lines


def _anova_cells(q: dict[str, Any]) -> str:
    dof = f"F({q['dof'][0]}, {q['dof'][1]})"
    if q["f_infinite"]:
        return f"{dof} = ∞ | {q['p']:.2f} |"
    return "— | — |" if q["f"] is None else f"{dof} = {q['f']:.2f} | {q['p']:.2f} |"


def _name(s: dict[str, Any], seeds_shown: bool = True) -> str:
    """The row's name: the label, with the training seed where the config names one and the
    setting has several."""
    return s["label"] if s["seed"] is None or not seeds_shown else f"{s['label']}, seed {s['seed']}"


def _protocol(p: dict[str, Any] | None) -> str:
    return "not run" if p is None else f"{p['majority_mean']:.2%} ± {p['majority_std']:.2%}"


def figure(settings: list[dict[str, Any]], path: Path) -> None:
    """Validation accuracy, entropy estimate and learning rate against the step: one colour per
    setting (a later seed of it lighter), ensemble solid and single networks dashed, one legend
    below the panels (inside them, 20 entries covered the data). The accuracy axis starts at
    ACCURACY_FLOOR or lower where a curve goes lower after the first VALIDATIONS_SKIPPED
    validations (a late runaway was cut off); the title says what it leaves out."""
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    labels = [s["label"] for s in settings]
    colours = {label: f"C{i}" for i, label in enumerate(dict.fromkeys(labels))}
    seen: set[str] = set()
    several_seeds = False
    shown = []  # the accuracy values the axis should show
    for s in settings:
        # One colour per setting; a setting's later seeds lighter.
        c, colour = s["curve"], colours[s["label"]]
        alpha = 0.45 if s["label"] in seen else 1.0
        several_seeds = several_seeds or s["label"] in seen
        seen.add(s["label"])
        for key, ls in (("val_ensemble_accuracy", "-"), ("val_mean_accuracy", "--")):
            values = [100 * a for a in c[key]]
            axes[0].plot(c["step"], values, color=colour, alpha=alpha, ls=ls)
            shown += values[VALIDATIONS_SKIPPED:]
        axes[1].plot(c["step"], c["entropy"], color=colour, alpha=alpha)
        axes[2].plot(c["step"], c["lr"], color=colour, alpha=alpha)
    low = min([ACCURACY_FLOOR, *(math.floor(2 * v) / 2 for v in shown)])
    cut = any(100 * a < low for s in settings for key in ("val_ensemble_accuracy", "val_mean_accuracy")
              for a in s["curve"][key])
    axes[0].set(xlabel="training step", ylabel="validation accuracy (%)", ylim=(low, 99.5),
                title="validation (16 networks, 5,000 images)"
                      + (f"\naxis from {low:g}%: the first validations are lower" if cut else ""))
    axes[1].set(xlabel="training step", ylabel="entropy estimate (nats)",
                title="Kozachenko–Leonenko entropy of the batch")
    axes[2].set(xlabel="training step", ylabel="learning rate", title="learning rate")
    for ax in axes:
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, lw=2, label=label) for label, c in colours.items()]
    handles += [Line2D([], [], color="0.3", ls="-", label="ensemble (left)"),
                Line2D([], [], color="0.3", ls="--", label="single network, mean (left)")]
    if several_seeds:
        handles.append(Line2D([], [], color="0.3", alpha=0.45, lw=2,
                              label="a second training seed (lighter)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    rows = math.ceil(len(handles) / min(4, len(handles)))
    fig.tight_layout(rect=(0, 0.05 * rows + 0.02, 1, 1))
    save_figure(fig, path, tight=False, dpi=110)  # whole or not at all


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="LABEL=RUN_DIR (repeat)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    pairs = [r.rsplit("=", 1) for r in args.run]  # labels may hold "=" (λ = 10³), paths seldom
    bad = [r for r, pair in zip(args.run, pairs, strict=True) if len(pair) != 2]
    if bad:
        raise SystemExit(f"--run {bad[0]!r}: expected LABEL=RUN_DIR")
    settings = [summarise(label, Path(run)) for label, run in pairs]
    comparison = settings_against_seeds(settings)
    args.out.mkdir(parents=True, exist_ok=True)
    figure(settings, args.out / "training.png")
    lines = ["# Seed 001's MNIST recipe at paper scale: settings side by side", "",
             "Test: 10,000 images, the networks each run's `metrics-test.json` names; ensemble of 100: "
             "mean probability, mean over draws from the pool. OOD: first 2,000 test images vs 2,000 "
             f"notMNIST, positive class the outliers. Target (issue 14): ensemble of 100 ≥ "
             f"{TARGET_ACCURACY:.1%} and AUROC by entropy ≥ {TARGET_AUROC}.", "",
             "| setting | single (mean ± std) | ensemble of 100 | NLL single / ensemble | ensemble ECE | "
             "disagreement | AUROC entropy / MI | entropy estimate | 20 × 200, majority, validation | "
             "target met |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    labels = [s["label"] for s in settings]
    for s in settings:
        lines.append(
            f"| {_name(s, labels.count(s['label']) > 1)} | {s['single_mean']:.2%} ± {s['single_std']:.2%} | "
            f"{s['ensemble_of_100']:.2%} | "
            f"{s['single_nll']:.4f} / {s['ensemble_nll']:.4f} | {s['ensemble_ece']:.4f} | "
            f"{s['disagreement']:.2%} | {s['ood']['entropy']:.3f} / {s['ood']['mutual_information']:.3f} | "
            f"{s['entropy_estimate']:.0f} | {_protocol(s['seed_protocol'])} | "
            f"{'yes' if s['meets_target'] else 'no'} |")
    lines += ["", "![training](training.png)", ""]
    if comparison:
        lines += [*_seed_lines(comparison), ""]
    atomic_write_text(args.out / "report.md", "\n".join(lines))
    atomic_write_json(args.out / "report.json", {"target": {"ensemble_of_100": TARGET_ACCURACY,
                                                             "auroc_entropy": TARGET_AUROC},
                                                  "settings": settings,
                                                  "settings_against_seeds": comparison})
    print("\n".join(lines))


if __name__ == "__main__":
    main()

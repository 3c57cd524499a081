"""The accuracy–diversity trade-off, measured (issue 14): train a method at several settings,
evaluate every run the same way, and write one report.

    python experiments/sweep.py experiments/sweep_deutsch_mnist_cpu.yaml --data-dir ../shared/data

The spec YAML names a base config, the settings (a name and ``--set`` overrides each, or a
baseline's own ``config``; ``tune_noise: K`` tunes a ``gaussian_noise`` run's σ on the validation
split with K networks after training, as ``hyperzoo tune-noise`` does) and the evaluation
(networks, outlier set). Every stage is cached in the run folder, so the script can be
stopped and started again: training resumes, a finished evaluation is read back. The expensive
part (predictions of ``networks`` sampled networks on the test set and the outliers) is stored as
``sweep_probs.safetensors`` in the run folder, so the report can be recomputed with other metrics
without sampling again. A setting whose run folder is gone (``runs/`` is not committed) keeps its
row from the report already in the output folder, marked as such, when its overrides are the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from hyperzoo.analysis.ensembles import accuracy_vs_size
from hyperzoo.analysis.paths import path_accuracies, path_summary
from hyperzoo.config import load_config
from hyperzoo.data import load_dataset
from hyperzoo.evaluation import predict_proba, uncertainty_metrics
from hyperzoo.evaluation.ood import detection_by_score, ood_scores
from hyperzoo.figures import save_figure
from hyperzoo.methods.base import LatentMethod
from hyperzoo.session import limit_dataset, load_run, sample_networks
from hyperzoo.weights import atomic_write_json, load_tensors, save_tensors

SIZES = [1, 5, 10, 100]


def train_setting(spec: dict, setting: dict, run_dir: Path, data_dir: str, threads: int) -> float:
    """Train (or resume) one setting; returns the wall seconds this invocation spent."""
    from hyperzoo.train import train_to_completion

    # A setting with its own config (a baseline) takes none of the base settings' overrides.
    base = [] if "config" in setting else spec.get("set", [])
    overrides = [f"data.data_dir={data_dir}", f"train.threads={threads}", *base, *setting.get("set", [])]
    cfg = load_config(setting.get("config", spec["config"]), overrides)
    return train_to_completion(cfg, run_dir, [sys.argv[0], f"setting={setting['name']}"], False) or 0.0


def tune_setting(setting: dict, run_dir: Path, data_dir: str) -> dict[str, Any] | None:
    """σ of a ``gaussian_noise`` setting by validation NLL (once; the record is read back)."""
    from hyperzoo.noise_tuning import RECORD, tune_noise_scale

    if not setting.get("tune_noise"):
        return None
    record = run_dir / RECORD
    if not record.is_file():
        tune_noise_scale(run_dir, networks=int(setting["tune_noise"]), data_dir=data_dir)
    r = json.loads(record.read_text())
    return {"sigma": r["sigma"], "networks": r["networks"], "split": r["split"]}


@torch.no_grad()
def predictions(run_dir: Path, spec: dict, data_dir: str) -> dict[str, torch.Tensor]:
    """Probabilities (N, B, C) of ``networks`` sampled networks on the test set and outliers."""
    cache = run_dir / "sweep_probs.safetensors"
    if cache.is_file():
        return load_tensors(cache)
    ev = spec["evaluation"]
    s = load_run(run_dir, data_dir)
    n = min(ev["networks"], s.method.max_networks or ev["networks"])
    weights = sample_networks(s, n, 0)  # with batch-norm statistics where the target has them
    test = load_dataset(s.config.data.dataset, "test", data_dir)
    out = limit_dataset(load_dataset(ev["outliers"], "test", data_dir), ev.get("ood_limit"))
    probs = {"test": predict_proba(s.target, weights, test.x),
             "outliers": predict_proba(s.target, weights, out.x), "y_test": test.y}
    save_tensors(cache, probs)
    return probs


@torch.no_grad()
def path_dip(run_dir: Path, spec: dict, data_dir: str) -> dict[str, Any] | None:
    """Seed 001's path probe on the first ``path_limit`` test images, per pair: endpoint mean
    accuracy minus the direct path's accuracy at t = 0.5, and the same for the interpolated path."""
    s = load_run(run_dir, data_dir)
    if not isinstance(s.method, LatentMethod):
        return None
    ev = spec["evaluation"]
    test = limit_dataset(load_dataset(s.config.data.dataset, "test", data_dir), ev["path_limit"])
    p = path_accuracies(s.method, test.x, test.y, pairs=ev["path_pairs"], points=11,
                        generator=torch.Generator().manual_seed(1))
    summary = path_summary(p)  # the report's numbers: dips at t = 0.5, mean ± std over pairs
    return {"direct_dip_mean": summary["direct_dip"]["mean"], "direct_dip_std": summary["direct_dip"]["std"],
            "interpolated_dip_mean": summary["interpolated_dip"]["mean"],
            "interpolated_dip_std": summary["interpolated_dip"]["std"], "pairs": ev["path_pairs"],
            "images": len(test)}


def summarise(probs: dict[str, torch.Tensor], spec: dict) -> dict[str, Any]:
    """Accuracy, ensembles of 5/10/N, the library's uncertainty metrics and OOD detection by
    predictive entropy and by mutual information (outliers positive) of one setting."""
    test, y = probs["test"].double(), probs["y_test"]
    n = test.shape[0]
    acc = (test.argmax(-1) == y).double().mean(1)
    by_size = accuracy_vs_size(test, y, [s for s in SIZES if 1 < s < n], count=10,
                               generator=torch.Generator().manual_seed(0))
    ens = {str(r["size"]): r["mean_prob_mean"] for r in by_size}
    ens[str(n)] = (test.mean(0).argmax(-1) == y).double().mean().item()
    outliers = probs["outliers"].double()
    ood_limit = outliers.shape[1]

    def detection(k: int) -> dict[str, dict[str, float]]:  # by the first k networks
        return detection_by_score(ood_scores(test[:k, :ood_limit]), ood_scores(outliers[:k]))

    ood = detection(n)
    # The first 10 networks alone: NLL, ECE and OOD at the size of a 10-network baseline.
    k = min(10, n)
    m10, ood10 = uncertainty_metrics(test[:k], y), detection(k)
    at_10 = {"networks": k, "ensemble_nll": m10["ensemble_nll"], "ensemble_ece": m10["ensemble_ece"],
             **{f"ood_{name}_auroc": v["auroc"] for name, v in ood10.items()}}
    return {
        "n_networks": n, "single_mean": acc.mean().item(),
        "single_std": acc.std().item() if n > 1 else 0.0,
        "single_min": acc.min().item(), "single_max": acc.max().item(),
        "ensemble_accuracy_by_size": ens, "ensemble_gain": ens[str(n)] - acc.mean().item(),
        # at one size for every setting (a deep ensemble has 10): the Pareto figure's axis
        "ensemble_gain_10": ens["10"] - acc.mean().item() if "10" in ens else None,
        **uncertainty_metrics(test, y),
        "at_10": at_10, "ood": ood, "ood_inliers": ood_limit, "ood_outliers": ood_limit,
        "ood_positive_class": "outliers",
    }


def same_setting(row: dict | None, setting: dict) -> bool:
    """Whether a previous report's row was measured with this setting's overrides."""
    return row is not None and row.get("set", []) == setting.get("set", [])


def gain_10(summary: dict[str, Any]) -> float | None:
    """The mean-probability ensemble of 10 minus the mean single network (reports written before
    the key existed: recomputed from the sizes they hold)."""
    if "ensemble_gain_10" in summary:
        return summary["ensemble_gain_10"]
    e = summary["ensemble_accuracy_by_size"]
    return e["10"] - summary["single_mean"] if "10" in e else None


# The Pareto figure's second panel zooms on settings at least this accurate (percent) when some
# setting is far below: one at 61% squeezed the other nine into 5% of the width.
ZOOM_FROM = 90.0


def pareto_figure(rows: list[dict], path: Path) -> None:
    """Mean single accuracy against the ensemble-of-10 gain, coloured by OOD AUROC; points
    numbered (names and AUROCs in the legend below: numbers with their AUROC at the points
    piled up into one unreadable blob), and a zoomed panel of the settings above ZOOM_FROM
    when some setting is below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if "summary" in r and gain_10(r["summary"]) is not None]
    acc = [100 * r["summary"]["single_mean"] for r in pts]
    gain = [100 * gain_10(r["summary"]) for r in pts]
    auroc = [r["summary"]["ood"]["entropy"]["auroc"] for r in pts]
    zoom = [i for i, a in enumerate(acc) if a >= ZOOM_FROM]
    panels = [("all settings", list(range(len(pts))))]
    if 0 < len(zoom) < len(pts):
        panels.append((f"settings above {ZOOM_FROM:g}% (zoomed)", zoom))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels) + 1.5, 5.5 + 0.18 * len(pts)),
                             squeeze=False)
    # The colour scale spans this sweep's AUROCs, so close values stay distinguishable.
    lo, hi = (min(auroc) - 0.01, max(auroc) + 0.01) if pts else (0.5, 1.0)
    sc = None
    for ax, (title, idx) in zip(axes[0], panels, strict=True):
        # Baselines (a setting with its own config) as squares, the method's settings as circles.
        for marker, group in (("o", [i for i in idx if not pts[i].get("baseline")]),
                              ("s", [i for i in idx if pts[i].get("baseline")])):
            if group:
                sc = ax.scatter([acc[i] for i in group], [gain[i] for i in group],
                                c=[auroc[i] for i in group], cmap="viridis", s=70, vmin=lo, vmax=hi,
                                edgecolors="k", marker=marker)
        for i in idx:
            ax.annotate(str(i + 1), (acc[i], gain[i]), textcoords="offset points", xytext=(5, 5), fontsize=9)
        ax.set_xlabel("mean single-network test accuracy (%)")
        ax.set_ylabel("ensemble gain: ensemble of 10 minus mean single network (points)")
        if len(panels) > 1:
            ax.set_title(title, fontsize=10)
        ax.margins(x=0.12, y=0.12)  # room for the labels
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], linestyle="none", marker=f"${i}$", color="k",
                          label=f"{r['name']} (N={r['summary']['n_networks']}"
                          + (", baseline" if r.get("baseline") else "") + f"): AUROC {a:.3f}")
               for i, (r, a) in enumerate(zip(pts, auroc, strict=True), 1)]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False,
               title="setting (OOD AUROC by predictive entropy)")
    fig.suptitle("Accuracy vs diversity (ensemble gain) vs OOD detection", fontsize=11)
    rows_of_legend = math.ceil(len(handles) / 2) + 1
    fig.tight_layout(rect=(0, min(0.45, 0.035 * rows_of_legend + 0.02), 0.9, 1))
    if sc is not None:
        fig.colorbar(sc, cax=fig.add_axes((0.91, 0.35, 0.015, 0.5)),
                     label="OOD AUROC (predictive entropy, outliers positive)")
    save_figure(fig, path, tight=False, dpi=130)  # whole or not at all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--runs", type=Path, default=None, help="folder for the run folders")
    parser.add_argument("--out", type=Path, default=None, help="report folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="setting names to run")
    parser.add_argument("--report-only", action="store_true", help="summarise finished settings only")
    args = parser.parse_args()
    spec = yaml.safe_load(args.spec.read_text())
    torch.set_num_threads(args.threads)
    runs = args.runs or Path("runs") / spec["name"]
    out = args.out or Path("experiments/results") / spec["name"]
    data_dir = str(Path(args.data_dir).resolve())
    old_report = out / "report.json"
    previous = ({r["name"]: r for r in json.loads(old_report.read_text())["rows"] if "summary" in r}
                if old_report.is_file() else {})
    rows = []
    for setting in spec["settings"]:
        run_dir = runs / setting["name"]
        row: dict[str, Any] = {"name": setting["name"], "set": setting.get("set", [])}
        record = run_dir / "sweep.json"
        wanted = args.only is None or setting["name"] in args.only
        if wanted and not args.report_only:
            print(f"[{time.strftime('%H:%M:%S')}] {setting['name']}: train", flush=True)
            seconds = train_setting(spec, setting, run_dir, data_dir, args.threads)
            old = json.loads(record.read_text()) if record.is_file() else {}
            row["train_seconds"] = old.get("train_seconds", 0.0) + seconds
            row["noise_tuning"] = tune_setting(setting, run_dir, data_dir)
            print(f"[{time.strftime('%H:%M:%S')}] {setting['name']}: evaluate", flush=True)
            start = time.perf_counter()
            predictions(run_dir, spec, data_dir)
            row["path"] = old.get("path") or path_dip(run_dir, spec, data_dir)
            row["eval_seconds"] = old.get("eval_seconds") or round(time.perf_counter() - start, 1)
            atomic_write_json(record, {k: row[k] for k in ("train_seconds", "eval_seconds", "path",
                                                           "noise_tuning")})
        if record.is_file() and (run_dir / "sweep_probs.safetensors").is_file():
            row.update(json.loads(record.read_text()))
            row["summary"] = summarise(load_tensors(run_dir / "sweep_probs.safetensors"), spec)
            print(json.dumps({"name": row["name"], **row["summary"]}), flush=True)
        elif same_setting(previous.get(setting["name"]), setting):
            row = {**previous[setting["name"]], "kept_from_previous_report": True}
        row["baseline"] = "config" in setting
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", {"spec": spec, "rows": rows})
    pareto_figure(rows, out / "pareto.png")
    lines = [f"# {spec['name']}", "", spec.get("description", ""), "",
             "| setting | N | single mean ± std | ens. 5 / 10 / N | gain 10 / N | ens. NLL | ens. ECE | "
             "OOD AUROC (H / MI) | at 10: NLL / ECE / AUROC H / MI | direct dip (pairs) | train s |",
             "|" + "---|" * 11]
    for r in rows:
        s = r.get("summary")
        if not s:
            lines.append(f"| {r['name']} | not run | | | | | | | | | |")
            continue
        e = s["ensemble_accuracy_by_size"]
        ens = " / ".join(f"{100 * e[k]:.2f}" for k in ("5", "10", str(s["n_networks"])) if k in e)
        auroc_mi = s["ood"].get("mutual_information", {}).get("auroc")
        mi = "—" if auroc_mi is None else f"{auroc_mi:.3f}"
        p = r.get("path")
        dip = f"{100 * p['direct_dip_mean']:.2f} ± {100 * p['direct_dip_std']:.2f}" if p else "—"
        seconds = f"{r['train_seconds']:.0f}" if r.get("train_seconds") else "—"
        t = s.get("at_10")
        at10 = (f"{t['ensemble_nll']:.4f} / {t['ensemble_ece']:.4f} / {t['ood_entropy_auroc']:.3f} / "
                f"{t.get('ood_mutual_information_auroc', float('nan')):.3f}") if t else "—"
        g10 = gain_10(s)
        gain = ("—" if g10 is None else f"{100 * g10:+.2f}") + f" / {100 * s['ensemble_gain']:+.2f}"
        name = r["name"] + (" †" if r.get("kept_from_previous_report") else "")
        sigma = r.get("noise_tuning")
        name += f" (σ = {sigma['sigma']:g})" if sigma else ""
        lines.append(f"| {name} | {s['n_networks']} | {100 * s['single_mean']:.2f} ± "
                     f"{100 * s['single_std']:.2f} | {ens} | {gain} | "
                     f"{s['ensemble_nll']:.4f} | {s['ensemble_ece']:.4f} | "
                     f"{s['ood']['entropy']['auroc']:.3f} / {mi} | {at10} | {dip} | {seconds} |")
    lines += ["", "Accuracies in %; gain = mean-probability ensemble of 10 (mean over 10 draws from the "
              "N) and of all N minus the mean single network (points); NLL, ECE and OOD AUROC of the "
              "ensemble of all N, and of the first 10 networks alone (\"at 10\": the size of a 10-network "
              "baseline); "
              "direct dip = mean endpoint accuracy minus the direct path's accuracy at t = 0.5 "
              "(points, mean ± std over pairs; negative: the midpoint of the straight line between two "
              "networks is more accurate than they are); train s = wall seconds of training, on a "
              "shared machine (—: trained before, outside the sweep); σ: a Gaussian-noise baseline's "
              "scale, tuned by validation NLL; "
              "† kept from the previous report (its run folder was not present).", "",
              "![pareto](pareto.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    print(f"wrote {out / 'report.md'}")


if __name__ == "__main__":
    main()

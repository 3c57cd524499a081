"""Seed 002 Table 3 (MNIST) with the seed's "standard training" row as the seed made it: layer
norms of independently trained networks that reach about 99% test accuracy, beside HyperGAN's.

    python experiments/table3_norms.py --standard runs/standard-hypergan-cpu \\
        --out experiments/results/table3-norms-mnist-cpu

The generated networks' norms are read from a committed report (``--report``, by default the
HyperGAN MNIST report: 200 networks per run on its target); the standard networks' are measured
from their run folder (method ``ensemble``, every member), with their accuracy on the whole test
split. Writes table3.json and table3.md into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import hyperzoo
from hyperzoo.analysis.norms import layer_norms
from hyperzoo.report import SEED_NUMBERS
from hyperzoo.targets.target_net import layer_labels
from hyperzoo.weights import atomic_write_json, atomic_write_text

HERE = Path(__file__).resolve().parent


def standard_row(run_dir: Path) -> dict[str, Any]:
    run = hyperzoo.load(run_dir)
    n = run.config.method["size"]
    weights = run.sample(n)
    test = run.evaluate(networks=n)  # the run's own test split, as recorded in its config
    norms = layer_norms(run.target, weights)  # keyed by module path; the report's by label (conv1)
    layers = run.target.layers
    labelled = dict(zip(layer_labels(layers), (norms[s.name] for s in layers), strict=True))
    return {"run": str(run_dir), "n_networks": n, "layer_norms": labelled,
            "mean_accuracy": test["mean_accuracy"], "std_accuracy": test["std_accuracy"],
            "min_accuracy": test["min_accuracy"], "n_examples": test["n_examples"]}


def variance_ratios(generated: dict[str, Any], standard: dict[str, Any],
                    seed: dict[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per generated run and layer: (our σ² generated ÷ standard, the seed's). The seed's layers
    are matched to ours in order (its "linear" is our "fc1")."""
    ours = standard["layer_norms"]
    theirs = {layer: seed["value"]["hypergan"][s][1] / seed["value"]["standard"][s][1]
              for layer, s in zip(ours, seed["value"]["hypergan"], strict=True)}
    return {label: {layer: (None if g["layer_norms"][layer]["var"] is None or not ours[layer]["var"]
                            else g["layer_norms"][layer]["var"] / ours[layer]["var"], theirs[layer])
                    for layer in ours} for label, g in generated.items()}


def markdown(table: dict[str, Any]) -> str:
    seed = table["seed"]
    layers = list(table["standard"]["layer_norms"])
    head = ["# Seed 002 Table 3, MNIST: layer-wise weight norms", "",
            "Mean and variance σ² over networks of each layer's weight 2-norm (Frobenius norm of the "
            "weight tensor, biases excluded), as `mean (σ²)`.", "",
            "| networks | " + " | ".join(layers) + " | mean single accuracy |",
            "|---|" + "---|" * (len(layers) + 1)]

    def row(name: str, norms: dict[str, Any], accuracy: str) -> str:
        # One network has no variance ("—"; layer_norms gives None).
        return f"| {name} | " + " | ".join(
            f"{v['mean']:.2f} ({'—' if v['var'] is None else format(v['var'], '.2f')})"
            for v in norms.values()) + f" | {accuracy} |"

    lines = [row(f"{label}, {r['n_networks']} networks", r["layer_norms"],
                 f"{r['mean_accuracy']:.2%} ({r['n_examples']:,} test images)")
             for label, r in table["generated"].items()]
    s = table["standard"]
    lines.append(row(f"standard training, {s['n_networks']} networks ({s['run']})", s["layer_norms"],
                     f"{s['mean_accuracy']:.2%} ± {s['std_accuracy']:.2%}, min {s['min_accuracy']:.2%} "
                     f"({s['n_examples']:,} test images)"))
    for key, name in (("hypergan", "seed 002: HyperGAN"), ("standard", "seed 002: standard training, 10")):
        lines.append(row(name, {k: {"mean": m, "var": v} for k, (m, v) in seed["value"][key].items()},
                         "99% (stated)"))
    ratios = table["variance_ratio_generated_over_standard"]
    tail = ["", f"Seed numbers: {seed['source']}.", "",
            "Variance of the layer norm over networks, generated ÷ standard (ours; the seed's):", ""]
    tail += [f"- {label}: " + ", ".join(f"{layer} {'—' if ours is None else format(ours, '.0f')}× "
                                          f"({theirs:.0f}×)" for layer, (ours, theirs) in per_layer.items())
             for label, per_layer in ratios.items()]
    return "\n".join(head + lines + tail) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--standard", type=Path, required=True, help="run folder of method ensemble")
    parser.add_argument("--report", type=Path, default=HERE / "results/hypergan-mnist-cpu/report.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    report = json.loads(args.report.read_text())
    generated = {label: {"n_networks": m["n_networks"], "layer_norms": m["layer_norms"],
                         "mean_accuracy": m["mean_accuracy"], "n_examples": report["examples"]}
                 for label, m in report["runs"].items() if m["method"] != "ensemble"}
    standard = standard_row(args.standard)
    seed = SEED_NUMBERS["hypergan_table3_mnist"]
    ratios = variance_ratios(generated, standard, seed)
    table = {"report": str(args.report), "generated": generated, "standard": standard,
             "variance_ratio_generated_over_standard": ratios, "seed": seed}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "table3.json", table)
    atomic_write_text(args.out / "table3.md", markdown(table))
    print(markdown(table))


if __name__ == "__main__":
    main()

"""Why one initialisation of the small CNN does not learn (README, "A run that does not learn"):
the trainer's per-validation activity of each ReLU layer (`val_active.<layer>` in metrics.jsonl)
for the bad initialisation (train.seed 1) beside a good one (seed 0), and for seed 1 without the
entropy term (λ = 10⁷), at a lower learning rate and with a warm-up.

Each run: the small CNN of experiments/lam_rule_models.py on MNIST, the Deutsch method with the
default hypernetwork, 300 steps of 32 noise vectors × 32 images, cosine learning rate from 10⁻³
(as experiments/lam_rule.py), validated every 10 steps on 2,000 validation images with 16
networks. One thread, one process.

    PYTHONPATH=src OMP_NUM_THREADS=1 python experiments/dead_layer.py --data-dir ../shared/data

Writes experiments/results/dead-layer-cpu/{report.json,activity.png}; runs go under --runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # lam_rule_models

from hyperzoo.config import load_config  # noqa: E402
from hyperzoo.diagnostics import SILENT_BELOW  # noqa: E402
from hyperzoo.figures import save_figure  # noqa: E402
from hyperzoo.runs import read_metrics  # noqa: E402
from hyperzoo.train import train  # noqa: E402
from hyperzoo.weights import atomic_write_json  # noqa: E402

SETTINGS: dict[str, list[str]] = {
    "seed 0, λ = 10⁴": ["train.seed=0", "method.lam=10000"],
    "seed 1, λ = 10⁴": ["train.seed=1", "method.lam=10000"],
    "seed 1, λ = 10⁷ (no entropy term to speak of)": ["train.seed=1", "method.lam=10000000"],
    "seed 1, λ = 10⁴, lr 3·10⁻⁴": ["train.seed=1", "method.lam=10000", "train.lr=0.0003"],
    "seed 1, λ = 10⁴, warm-up 50 steps": ["train.seed=1", "method.lam=10000", "train.lr_warmup=50"],
}
STEPS, VAL_EVERY = 300, 10


def overrides(data_dir: str) -> list[str]:
    return ["target.name=lam_rule_models:SmallCNN", "data.dataset=mnist", f"data.data_dir={data_dir}",
            "data.val_limit=2000", f"train.steps={STEPS}", "train.noise_batch=32",
            "train.images_per_noise=32", "train.lr_schedule=cosine", "train.threads=1",
            f"train.val_every={VAL_EVERY}", "train.val_networks=16", f"train.checkpoint_every={STEPS}"]


def trace(run_dir: Path) -> dict[str, Any]:
    """Each validation's step, mean accuracy and ReLU activity by layer."""
    rows = [r for r in read_metrics(run_dir) if "val_mean_accuracy" in r]
    layers = sorted({k.removeprefix("val_active.") for r in rows for k in r if k.startswith("val_active.")})
    return {"step": [r["step"] for r in rows],
            "val_mean_accuracy": [round(r["val_mean_accuracy"], 4) for r in rows],
            "active": {layer: [round(r[f"val_active.{layer}"], 5) for r in rows] for layer in layers}}


def figure(traces: dict[str, dict[str, Any]], layer: str, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True)
    floor = 1e-3  # a log scale has no 0: a silent layer is drawn at the floor
    for label, tr in traces.items():
        top.plot(tr["step"], [max(100 * a, floor) for a in tr["active"][layer]], label=label)
        bottom.plot(tr["step"], [100 * a for a in tr["val_mean_accuracy"]], label=label)
    top.axhline(100 * SILENT_BELOW, color="grey", linestyle=":", label="trainer's warning threshold")
    top.set_yscale("log")
    top.set_ylim(floor / 2, 100)
    name = f"fc1's ReLU (module '{layer}')"  # SmallCNN's modules are positions: '8' follows fc1
    top.set_ylabel(f"{name}: nonzero\noutputs (%, 0 drawn at {floor:g})")
    top.legend(fontsize=8, loc="lower right")
    bottom.set_ylabel("validation accuracy,\nmean of 16 networks (%)")
    bottom.set_xlabel("training step")
    top.set_title(f"Small CNN on MNIST, Deutsch method: {name}, 32 units")
    save_figure(fig, out, dpi=120)  # whole or not at all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir")
    parser.add_argument("--runs", type=Path, default=Path("runs/dead-layer"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dead-layer-cpu")
    parser.add_argument("--redraw", action="store_true", help="only the figure, from --out's report.json")
    args = parser.parse_args()
    if args.redraw:
        figure(json.loads((args.out / "report.json").read_text())["runs"], "8", args.out / "activity.png")
        return
    if not args.data_dir:
        parser.error("--data-dir is required (the folder holding mnist/)")
    traces = {}
    for i, (label, sets) in enumerate(SETTINGS.items()):
        run_dir = args.runs / f"setting{i}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        print(f"{label} ...", flush=True)
        train(load_config(None, overrides(args.data_dir) + sets), run_dir, argv=["dead_layer.py", *sets],
              progress=False)
        traces[label] = {"overrides": sets, **trace(run_dir)}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "report.json", {
        "what": __doc__.split("\n\n")[0], "scale": "CPU, 300 steps per run, 2,000 validation images",
        "silent_below": SILENT_BELOW, "runs": traces})
    figure(traces, "8", args.out / "activity.png")


if __name__ == "__main__":
    main()

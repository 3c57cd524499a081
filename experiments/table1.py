"""Seed 003 Table 1 (and its §4.3 Polyak distillation) at CPU scale: train every column, evaluate
on the CIFAR-10 test split, write one report beside the seed's numbers.

    python experiments/table1.py --data-dir ../shared/data                    # LeNet, then ResNet
    python experiments/table1.py --rows lenet --data-dir ../shared/data --threads 1

Columns: (a) one network by SGD with a decaying learning rate; (b) 10 iterates of
constant-learning-rate SGD (Mandt et al.) as samples; (c) the hypernetwork without the entropy
term (``method.diversity: none``, same config otherwise); (d) with it. For (b)-(d), "mean" is the
mean accuracy of the 10 single networks (the seed's (b) and (d) "mean" columns sit 4-6 points
below "majority", which only a mean of single networks does) and "majority" the majority vote
of the 10; for the hypernetworks, which draw fresh networks, both over ``--ensembles``
independent draws of 10 (mean ± std). Every run folder lives under ``--runs`` (trained if
missing, resumed if unfinished, reused if done). Polyak: 10 samples of (c) and (d) averaged in
gauge-fixed coordinates, batch-norm statistics recomputed.

``--train-seeds 0,1,2`` also trains (c) and (d) with further training seeds (``train.seed``; 0 is
the main run) and reports their 10-network numbers per seed and the (d) − (c) difference with its
spread over seeds: one run per column says nothing about whether the entropy term helps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from hyperzoo.config import load_config
from hyperzoo.figures import save_figure
from hyperzoo.train import train_to_completion
from hyperzoo.weights import atomic_write_json, atomic_write_text
from hyperzoo.workflows import evaluate_run, polyak_run

HERE = Path(__file__).resolve().parent

# Seed 003 Table 1 (CIFAR-10; paper scale): (a), (b) mean, (b) majority, (c) mean, (c) majority,
# (d) mean, (d) majority, in %; and §4.3's Polyak numbers where it gives them.
SEED = {
    "lenet": {"a": 77.36, "b_mean": 74.95, "b_majority": 80.60, "c_mean": 76.26,
              "c_majority": 76.47, "d_mean": 72.34, "d_majority": 78.21},
    "resnet": {"a": 93.57, "b_mean": 91.03, "b_majority": 94.96, "c_mean": 88.20,
               "c_majority": 88.26, "d_mean": 83.61, "d_majority": 90.37,
               "polyak_before": 90.02, "polyak_after": 89.46},
}

ROWS: dict[str, dict[str, Any]] = {
    "lenet": {"title": "LeNet (seed 003: LeNet; ours: the same LeNet, CPU-scale training)",
              "seed": "lenet",
              "a": ("sgd_lenet_cifar10_cpu.yaml", []),
              "b": ("snapshots_lenet_cifar10_cpu.yaml", []),
              "c": ("deutsch_lenet_cifar10_cpu.yaml", ["method.diversity=none"]),
              "d": ("deutsch_lenet_cifar10_cpu.yaml", [])},
    "resnet": {"title": "ResNet (seed 003: ResNet-32; ours: ResNet-14 with 8/16/32 channels, "
                        "reduced training)",
               "seed": "resnet",
               "a": ("sgd_resnet_cifar10_reduced.yaml", []),
               "b": ("snapshots_resnet_cifar10_reduced.yaml", []),
               "c": ("deutsch_resnet_cifar10_reduced.yaml", ["method.diversity=none"]),
               "d": ("deutsch_resnet_cifar10_reduced.yaml", [])},
}
# The (c), (d) pool metrics kept in report.json (under "ensemble_of_100", whatever --pool is).
POOL_KEYS = ("mean_accuracy", "std_accuracy", "ensemble_accuracy", "majority_accuracy", "ensemble_nll",
             "disagreement", "entropy_estimate")
# Columns in the order they train: the hypernetworks first (the ablation is the point), then SGD.
ORDER = ("d", "c", "a", "b")


def ensure_trained(run_dir: Path, config_name: str, overrides: list[str], args) -> float | None:
    """Train, resume or reuse ``run_dir``; seconds spent training now (None when reused)."""
    config = load_config(HERE / config_name, [f"data.data_dir={args.data_dir}",
                                              f"train.threads={args.threads}", *overrides,
                                              *args.set])
    return train_to_completion(config, run_dir, ["table1.py", config_name, *overrides], not args.quiet)


def train_time(metrics: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """The run's training time as its checkpoint records it (through resumes; runs trained before
    times were recorded: the seconds this call trained, None when reused)."""
    return {"train_seconds": metrics.get("train_seconds", seconds),
            "train_seconds_from_step": metrics.get("train_seconds_from_step")}


def column(row: str, col: str, args) -> dict[str, Any]:
    config_name, overrides = ROWS[row][col]
    run_dir = Path(args.runs) / f"{row}-{col}"
    seconds = ensure_trained(run_dir, config_name, overrides, args)
    hyper = col in ("c", "d")
    n = 1 if col == "a" else 10
    m = evaluate_run(run_dir, n_networks=n, data_dir=args.data_dir, progress=False,
                     ensembles=args.ensembles if hyper else 1)
    result: dict[str, Any] = {
        "column": col, "run": str(run_dir), "config": config_name, "overrides": overrides,
        **train_time(m, seconds), "n_networks": n, "checkpoint_step": m["checkpoint_step"],
        "mean_accuracy": m["mean_accuracy"], "std_accuracy": m["std_accuracy"],
        "majority_accuracy": m["majority_accuracy"], "ensemble_accuracy": m["ensemble_accuracy"],
        "ensemble_nll": m["ensemble_nll"], "mean_nll": m["mean_nll"],
        "disagreement": m.get("disagreement"), "entropy_estimate": m["entropy_estimate"],
    }
    if hyper:
        ind = m["independent_ensembles"]
        result["independent_ensembles"] = ind
        if args.pool:
            m100 = evaluate_run(run_dir, n_networks=args.pool, data_dir=args.data_dir, progress=False,
                                out=run_dir / f"metrics-test-{args.pool}.json")
            result["ensemble_of_100"] = {k: m100[k] for k in POOL_KEYS} | {"n_networks": args.pool}
        result["polyak"] = polyak_run(run_dir, k=10, data_dir=args.data_dir)
    return result


def seed_column(row: str, col: str, seed: int, args) -> dict[str, Any]:
    """(c) or (d) trained with ``train.seed=seed``: its Table 1 numbers (10 networks; majority and
    mean-probability ensembles over ``--ensembles`` independent draws), no pool or Polyak."""
    config_name, overrides = ROWS[row][col]
    overrides = [*overrides, f"train.seed={seed}"]
    run_dir = Path(args.runs) / f"{row}-{col}-seed{seed}"
    seconds = ensure_trained(run_dir, config_name, overrides, args)
    m = evaluate_run(run_dir, n_networks=10, data_dir=args.data_dir, progress=False,
                     ensembles=args.ensembles)
    # One ensemble (--ensembles 1): the 10 networks evaluated above are it.
    ind = m.get("independent_ensembles") or {"majority_mean": m["majority_accuracy"], "majority_std": None,
                                             "mean_prob_mean": m["ensemble_accuracy"]}
    return {"column": col, "train_seed": seed, "run": str(run_dir), "overrides": overrides,
            **train_time(m, seconds), "checkpoint_step": m["checkpoint_step"],
            "mean_accuracy": m["mean_accuracy"], "std_accuracy": m["std_accuracy"],
            "majority_mean": ind["majority_mean"], "majority_std": ind["majority_std"],
            "mean_prob_mean": ind["mean_prob_mean"], "ensembles": args.ensembles}


def seed_rows(cols: dict[str, Any]) -> list[dict[str, Any]]:
    """Per training seed with both (c) and (d): their mean single and majority accuracies, seed 0
    being the main columns."""
    by_seed: dict[int, dict[str, Any]] = {}
    for c in ("c", "d"):
        if main := cols.get(c):
            by_seed.setdefault(0, {})[c] = {"mean_accuracy": main["mean_accuracy"],
                                            "majority_mean": main["independent_ensembles"]["majority_mean"]}
        for r in cols.get("seeds", {}).get(c, {}).values():
            by_seed.setdefault(r["train_seed"], {})[c] = r
    return [{"train_seed": k, **v} for k, v in sorted(by_seed.items()) if "c" in v and "d" in v]


def seed_summary(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """(d) − (c) over training seeds: mean, std and standard error of the difference in mean single
    and in majority accuracy; None with fewer than two seeds."""
    if len(rows) < 2:
        return None
    out: dict[str, Any] = {"seeds": [r["train_seed"] for r in rows]}
    for key in ("mean_accuracy", "majority_mean"):
        diff = torch.tensor([r["d"][key] - r["c"][key] for r in rows], dtype=torch.float64)
        std = diff.std().item()
        out[key] = {"diffs": diff.tolist(), "mean": diff.mean().item(), "std": std,
                    "stderr": std / len(rows) ** 0.5}
    return out


def fmt(x: float | None, std: float | None = None) -> str:
    if x is None:
        return "—"
    return f"{x:.2%}" + (f" ± {std:.2%}" if std is not None else "")


COLUMNS = ("a", "b_mean", "b_majority", "c_mean", "c_majority", "d_mean", "d_majority")
COLUMN_LABELS = ("(a) SGD\n1 net", "(b) SGD chain\nmean", "(b) SGD chain\nmajority",
                 "(c) w/o entropy\nmean", "(c) w/o entropy\nmajority", "(d) w/ entropy\nmean",
                 "(d) w/ entropy\nmajority")


def ours(cols: dict[str, Any]) -> dict[str, tuple[float, float | None] | None]:
    """Our seven Table 1 numbers of one row (value, spread or None), None where not run."""
    out: dict[str, tuple[float, float | None] | None] = dict.fromkeys(COLUMNS)
    if a := cols.get("a"):
        out["a"] = (a["mean_accuracy"], None)
    if b := cols.get("b"):
        out["b_mean"] = (b["mean_accuracy"], b["std_accuracy"])
        out["b_majority"] = (b["majority_accuracy"], None)
    for c in ("c", "d"):
        if r := cols.get(c):
            ind = r["independent_ensembles"]
            out[f"{c}_mean"] = (r["mean_accuracy"], r["std_accuracy"])
            out[f"{c}_majority"] = (ind["majority_mean"], ind["majority_std"])
    return out


def figure(results: dict[str, dict[str, Any]], path: Path) -> str:
    """One panel per row, stacked (side by side, 17 inches wide, the README shrank its labels to
    5 px): the seed's seven numbers beside ours; a column not measured has no bar (it was drawn
    at 0%), and a caption says what the error bars are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(results), 1, figsize=(9.5, 4.2 * len(results) + 0.5), squeeze=False)
    x = np.arange(len(COLUMNS))
    for ax, (row, cols) in zip(axes[:, 0], results.items(), strict=True):
        seed = SEED[ROWS[row]["seed"]]
        mine = ours(cols)
        ax.bar(x - 0.2, [seed[k] for k in COLUMNS], 0.4, label="seed 003 (paper scale)", color="0.6")
        ax.bar(x + 0.2, [100 * v[0] if v else np.nan for v in mine.values()], 0.4,
               yerr=[100 * v[1] if v and v[1] else 0 for v in mine.values()], capsize=3,
               label="hyperzoo (CPU scale)", color="C0")
        for i, v in enumerate(mine.values()):
            if not v:
                ax.text(x[i] + 0.2, 2, "not\nmeasured", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks(x, COLUMN_LABELS, fontsize=8)
        ax.set_ylabel("CIFAR-10 test accuracy (%)")
        ax.set_ylim(0, 108)
        ax.set_title(ROWS[row]["title"], fontsize=10)
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.text(0.5, 0.005, "Error bars: std over networks for the single-network means; over independent "
             "ensembles of 10 for the hypernetworks' majorities; none where one number was measured.",
             ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path, tight=False, dpi=120)  # whole or not at all
    return path.name


def num(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def write_report(results: dict[str, dict[str, Any]], args, seconds: float) -> None:
    out = Path(args.out or HERE / "results" / "table1-cifar10-cpu")
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Seed 003 Table 1 and Polyak distillation, CIFAR-10, at CPU scale", "",
             f"`python experiments/table1.py --data-dir ../shared/data --threads {args.threads}`: "
             f"{torch.get_num_threads()} CPU thread(s), torch {torch.__version__}; "
             f"{seconds / 60:.1f} min for the invocation that wrote this (runs trained earlier are "
             "reused: train_seconds is their checkpoint's record, null where it has none). "
             "Test accuracy on the 10,000 CIFAR-10 test images at the last checkpoint (the seed "
             "reports the *maximum* test accuracy, i.e. "
             "model selection on the test set; we do not). Seed numbers are paper scale; ours are "
             "not (see the configs named in report.json).", ""]
    for row, cols in results.items():
        replicas = [r for c in cols.get("seeds", {}).values() for r in c.values()]
        if seeds := sorted({r["train_seed"] for r in replicas}):
            ensembles = sorted({r["ensembles"] for r in replicas})
            lines += [f"{row}: training-seed replicas of (c) and (d) by `python experiments/table1.py "
                      f"--data-dir ../shared/data --rows {row} --columns c,d --train-seeds "
                      f"{','.join(map(str, seeds))} --ensembles {','.join(map(str, ensembles))} "
                      f"--threads {args.threads}` (their majority: the mean over that many "
                      "independent ensembles of 10).", ""]
    for row, cols in results.items():
        s = SEED[ROWS[row]["seed"]]
        lines += [f"## {ROWS[row]['title']}", "",
                  "| | (a) SGD, 1 network | (b) SGD chain, 10: mean | (b) majority | "
                  "(c) w/o entropy, 10: mean | (c) majority | (d) w/ entropy, 10: mean | (d) majority |",
                  "|---|---|---|---|---|---|---|---|",
                  "| seed 003 (paper scale) | " + " | ".join(
                      f"{s[k]:.2f}%" for k in ("a", "b_mean", "b_majority", "c_mean", "c_majority",
                                               "d_mean", "d_majority")) + " |"]
        cells = [fmt(*v) if v else "—" for v in ours(cols).values()]
        lines += ["| ours (CPU scale) | " + " | ".join(cells) + " |", ""]
        hyper = [(c, cols[c]) for c in ("c", "d") if c in cols]
        if hyper:
            count = hyper[0][1]["independent_ensembles"]["count"]
            # The pool's size as evaluated (the JSON key says 100 whatever --pool was).
            pool = next((r["ensemble_of_100"]["n_networks"] for _, r in hyper
                         if r.get("ensemble_of_100")), 100)
            lines += [f"Hypernetworks: (b)-(d) \"mean\" is the mean ± std of the 10 single networks; "
                      f"the hypernetworks' majority is the mean ± std over {count} "
                      "independent ensembles of 10 fresh networks.", "",
                      f"| | 10: mean-prob. ensemble | {pool}: single mean ± std | {pool}: ensemble | "
                      f"{pool}: majority | ensemble NLL ({pool}) | disagreement ({pool}) | "
                      "entropy estimate | "
                      "Polyak: 10 samples mean → ensemble → averaged network |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for c, r in hyper:
                p, ind = r["polyak"], r["independent_ensembles"]
                e = r.get("ensemble_of_100") or dict.fromkeys(POOL_KEYS)
                lines.append(
                    f"| ({c}) {'w/o' if c == 'c' else 'w/'} entropy | "
                    f"{fmt(ind['mean_prob_mean'], ind['mean_prob_std'])} | "
                    f"{fmt(e['mean_accuracy'], e['std_accuracy'])} | {fmt(e['ensemble_accuracy'])} | "
                    f"{fmt(e['majority_accuracy'])} | {num(e['ensemble_nll'], '.4f')} | "
                    f"{num(e['disagreement'], '.2%')} | {num(e['entropy_estimate'], '.1f')} | "
                    f"{fmt(p['mean_single_accuracy'])} → "
                    f"{fmt(p['ensemble_accuracy'])} → {fmt(p['polyak_accuracy'])} |")
            lines.append("")
    for row, cols in results.items():
        rows = seed_rows(cols)
        if (summary := seed_summary(rows)) is None:
            continue
        cols["seed_summary"] = summary
        lines += [f"### {row}: (c) and (d) over training seeds", "",
                  "| training seed | (c) 10: mean | (c) majority | (d) 10: mean | (d) majority | "
                  "(d) − (c), majority |", "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['train_seed']} | {fmt(r['c']['mean_accuracy'])} | "
                         f"{fmt(r['c']['majority_mean'])} | {fmt(r['d']['mean_accuracy'])} | "
                         f"{fmt(r['d']['majority_mean'])} | "
                         f"{100 * (r['d']['majority_mean'] - r['c']['majority_mean']):+.2f} points |")
        d = summary["majority_mean"]
        t = d["mean"] / d["stderr"] if d["stderr"] > 0 else float("inf")
        verdict = ("larger than twice its standard error" if abs(t) > 2
                   else "not larger than twice its standard error: no effect shown")
        same_sign = all(x > 0 for x in d["diffs"]) or all(x < 0 for x in d["diffs"])
        lines += ["", f"Over {len(rows)} training seeds (each pair of runs shares its seed: the same "
                  "initialisation and data order) the entropy term changes the 10-network majority "
                  f"by {100 * d['mean']:+.2f} ± {100 * d['std']:.2f} points (mean ± std over seeds; "
                  f"standard error {100 * d['stderr']:.2f}), {verdict}: t = {t:.2f} on "
                  f"{len(rows) - 1} degrees of freedom"
                  + (", every seed's difference of the same sign" if same_sign else "")
                  + (" — with this few seeds, weak evidence either way." if len(rows) < 5 else "."), ""]
    lines += ["A — in the 100-network columns: not measured for that row (`--pool 0`: on a CPU, "
              "every ResNet network needs its own batch-norm statistics, about 20 s each here).", "",
              f"![Table 1]({figure(results, out / 'table1.png')})", ""]
    report = {"seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "seed_numbers": SEED, "rows": results}
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_json(out / "report.json", report)
    print(f"wrote {out / 'report.md'}")


def record(results: dict[str, Any], keys: list[str], result: dict[str, Any], out: Path, args,
           start: float) -> dict[str, Any]:
    """Put ``result`` at ``keys`` of the rows and rewrite the report; the rows are read again
    first, since another invocation (say --rows resnet beside --rows lenet) may have written its
    columns meanwhile."""
    if (out / "report.json").is_file():
        results = json.loads((out / "report.json").read_text())["rows"]
    node = results
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = result
    write_report(dict(sorted(results.items(), key=lambda kv: list(ROWS).index(kv[0]))),
                 args, time.perf_counter() - start)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder holding cifar-10/")
    p.add_argument("--rows", default="lenet,resnet", help="comma-separated rows: lenet, resnet")
    p.add_argument("--columns", default="a,b,c,d", help="comma-separated columns a-d")
    p.add_argument("--runs", default="runs/table1", help="folder for the run folders")
    p.add_argument("--out", default=None, help="folder for report.md and report.json (default "
                   "experiments/results/table1-cifar10-cpu)")
    p.add_argument("--ensembles", type=int, default=10, help="independent ensembles of 10 for (c), (d)")
    p.add_argument("--pool", type=int, default=100, help="networks of the (c), (d) pool metrics "
                   "(0: skip them)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], help="extra config override key=value "
                   "(for every run; e.g. train.steps=2 for a smoke test)")
    p.add_argument("--train-seeds", default="0", help="comma-separated training seeds for (c) and "
                   "(d): 0 is the main run of every column (leave it out to train only the others, "
                   "named ROW-COL-seedS)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report-only", action="store_true", help="rewrite report.md and the figure "
                   "from report.json, training and evaluating nothing")
    args = p.parse_args()
    args.data_dir = str(Path(args.data_dir).expanduser().resolve())
    rows, cols = args.rows.split(","), args.columns.split(",")
    try:
        train_seeds = [int(t) for t in args.train_seeds.split(",")]
    except ValueError:
        p.error(f"--train-seeds {args.train_seeds!r}: expected comma-separated integers, e.g. 0,1,2")
    if unknown := [r for r in rows if r not in ROWS] + [c for c in cols if c not in ORDER]:
        p.error(f"unknown rows/columns {unknown}; rows are {sorted(ROWS)}, columns a-d")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    out = Path(args.out or HERE / "results" / "table1-cifar10-cpu")
    if args.report_only:
        results = json.loads((out / "report.json").read_text())["rows"]
    if args.report_only:
        write_report(results, args, json.loads((out / "report.json").read_text())["seconds"])
        return
    for row in rows:
        for col in [c for c in ORDER if c in cols and 0 in train_seeds]:
            result = column(row, col, args)
            print(json.dumps({"row": row, **{k: v for k, v in result.items()
                                             if k not in ("independent_ensembles", "polyak")}}),
                  flush=True)
            results = record(results, [row, col], result, out, args, start)
        for seed in [t for t in train_seeds if t != 0]:
            for col in [c for c in ("d", "c") if c in cols]:
                result = seed_column(row, col, seed, args)
                print(json.dumps({"row": row, **result}), flush=True)
                results = record(results, [row, "seeds", col, str(seed)], result, out, args, start)


if __name__ == "__main__":
    main()

"""Two recipes trained on the same seeds, compared pair by pair: per seed the difference B − A in
points of test accuracy (mean single network, ensemble of the pool), in the ensemble's NLL
(nats) and, with ``--ood``, in points of the
OOD AUROC by entropy and by mutual information (``ood/ood.json`` beside each metrics file, as
`hyperzoo ood RUN --out RUN/ood` writes it), then the mean over pairs, its spread, a paired t
statistic and its 95% interval. Reads `hyperzoo evaluate`'s metrics-SPLIT.json files; writes JSON.

    python experiments/paired_runs.py --labels standardised raw_pixels \\
        --pair 0 A/metrics-test.json B/metrics-test.json --pair 1 ... --what "..." --out pairs.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from scipy import stats

from hyperzoo.weights import atomic_write_json

QUANTITIES = {"mean_single": "mean_accuracy", "ensemble_pool": "ensemble_accuracy"}  # as over_seeds.py
OOD_QUANTITIES = {"ood_auroc_entropy": "entropy", "ood_auroc_mutual_information": "mutual_information"}


def summary(file: Path, ood: bool = False) -> dict[str, Any]:
    """A run's accuracies and ensemble NLL from its metrics file; with ``ood`` its OOD AUROCs."""
    m = json.loads(file.read_text())
    out = {k: m[key] for k, key in QUANTITIES.items()}
    if ood:
        o = json.loads((file.parent / "ood" / "ood.json").read_text())
        out |= {k: o["scores"][score]["auroc"] for k, score in OOD_QUANTITIES.items()}
        out["ood"] = f"{o['inliers']} vs {o['outliers']}, {o['n_networks']} networks"
    # Unrounded: the differences and their statistics are computed from these values.
    return out | {"ensemble_nll": m["ensemble_nll"], "n_networks": m["n_networks"],
                  "n_examples": m["n_examples"], "file": str(file)}


# What must agree for two runs' numbers to be compared.
SAME = ("n_networks", "n_examples", "ood")


def paired(differences: list[float], digits: int = 2) -> dict[str, Any]:
    """Mean, sample standard deviation, paired t, its two-sided p and 95% interval."""
    if not all(math.isfinite(d) for d in differences):  # statistics.stdev failed on NaN untold
        raise SystemExit(f"a paired difference is not finite ({differences}): a run's number is NaN or "
                         "infinite (a diverged network?); compare finite runs")
    n = len(differences)
    mean = statistics.fmean(differences)
    out: dict[str, Any] = {"mean": round(mean, digits)}
    if n < 2:
        return out
    sd = statistics.stdev(differences)
    se = sd / math.sqrt(n)
    half = stats.t.ppf(0.975, n - 1) * se
    out |= {"std_over_pairs": round(sd, digits), "degrees_of_freedom": n - 1,
            "ci95": [round(mean - half, digits), round(mean + half, digits)]}
    if se > 0:
        t = mean / se
        out |= {"paired_t": round(t, 2), "two_sided_p": round(2 * stats.t.sf(abs(t), n - 1), 3)}
    return out


def _recorded_seed(file: Path) -> int | None:
    """``train.seed`` of the run folder holding ``file``, where it has a config.yaml."""
    import yaml

    config = file.parent / "config.yaml"
    if not config.is_file():
        return None
    return (yaml.safe_load(config.read_text()) or {}).get("train", {}).get("seed", 0)


def compare(labels: tuple[str, str], pairs: list[tuple[int, Path, Path]], what: str,
            ood: bool = False) -> dict[str, Any]:
    """The record: each pair's two summaries and their difference (in points: AUROC x 100 too),
    then the pooled statistics."""
    a, b = labels
    key = f"{b}_minus_{a}_points"
    quantities = [*QUANTITIES, *(OOD_QUANTITIES if ood else ())]
    rows = []
    for seed, file_a, file_b in pairs:
        for file in (file_a, file_b):
            recorded = _recorded_seed(file)
            if recorded is not None and recorded != seed:
                # The pair's seed was taken from the command line as given.
                raise SystemExit(f"{file} comes from a run of seed {recorded}, not the pair's {seed}")
        sa, sb = summary(file_a, ood), summary(file_b, ood)
        for file, numbers in ((file_a, sa), (file_b, sb)):
            bad = [q for q in (*quantities, "ensemble_nll") if not math.isfinite(numbers[q])]
            if bad:
                raise SystemExit(f"{file}: {', '.join(bad)} not finite (a diverged network?); "
                                 "pair finite runs")
        for k in SAME:
            if sa.get(k) != sb.get(k):
                raise SystemExit(f"seed {seed}: {k} differs, {sa.get(k)!r} in {file_a} against "
                                 f"{sb.get(k)!r} in {file_b}; pair runs evaluated alike")
        rows.append({"seed": seed, a: sa, b: sb,
                     key: {q: round(100 * (sb[q] - sa[q]), 2) for q in quantities}})
    pooled = {q: paired([100 * (r[b][q] - r[a][q]) for r in rows]) for q in quantities}
    nll = [r[b]["ensemble_nll"] - r[a]["ensemble_nll"] for r in rows]
    spread = {label: round(100 * (max(r[label]["mean_single"] for r in rows)
                                  - min(r[label]["mean_single"] for r in rows)), 2) for label in labels}
    return {"what": what, "pairs": rows, key: pooled,
            f"{b}_minus_{a}_ensemble_nll": {"per_pair": [round(d, 4) for d in nll]} | paired(nll, 4),
            "seed_spread_points_mean_single": spread}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", nargs=2, required=True, metavar=("A", "B"))
    parser.add_argument("--pair", nargs=3, action="append", required=True,
                        metavar=("SEED", "A_FILE", "B_FILE"))
    parser.add_argument("--what", required=True, help="what was compared, for the record")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ood", action="store_true", help="also the OOD AUROCs (RUN/ood/ood.json)")
    args = parser.parse_args()
    pairs = [(int(s), Path(fa), Path(fb)) for s, fa, fb in args.pair]
    record = compare(tuple(args.labels), pairs, args.what, args.ood)
    atomic_write_json(args.out, record)
    print(json.dumps(record[f"{args.labels[1]}_minus_{args.labels[0]}_points"], indent=1))


if __name__ == "__main__":
    main()

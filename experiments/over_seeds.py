"""One recipe trained on several seeds: each seed's test accuracies (mean single network,
ensembles of 5, 10 and the whole pool) and ensemble NLL from `hyperzoo evaluate`'s metrics files,
then their mean and sample standard deviation over the seeds. Writes JSON.

    python experiments/over_seeds.py SEED0/metrics-test.json SEED1/metrics-test.json ... \\
        --what "..." --out seeds.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from hyperzoo.weights import atomic_write_json

QUANTITIES = ("mean_single", "ensemble_5", "ensemble_10", "ensemble_pool", "ensemble_nll")


def row(seed: int, file: Path) -> dict[str, Any]:
    m = json.loads(file.read_text())
    by_size = m.get("ensemble_accuracy_by_size", {})
    return {"seed": seed, "mean_single": m["mean_accuracy"], "std_single": m["std_accuracy"],
            "ensemble_5": by_size.get("5"), "ensemble_10": by_size.get("10"),
            "ensemble_pool": m["ensemble_accuracy"], "ensemble_nll": m["ensemble_nll"],
            "n_networks": m["n_networks"], "n_examples": m["n_examples"],
            "train_seconds": m.get("train_seconds"), "file": str(file)}


def recorded_seed(file: Path) -> int | None:
    """``train.seed`` of the run folder holding the metrics file ``file``, where it has one."""
    import yaml

    config = file.parent / "config.yaml"
    if not config.is_file():
        return None
    return (yaml.safe_load(config.read_text()) or {}).get("train", {}).get("seed", 0)


def over_seeds(files: list[Path], what: str) -> dict[str, Any]:
    """Per seed (each run folder's train.seed; the files' order, 0, 1, ..., for files outside a
    run folder) and over seeds; values rounded only here."""
    seeds = [recorded_seed(f) for f in files]
    seeds = [i if s is None else s for i, s in enumerate(seeds)]
    if len(set(seeds)) < len(seeds):
        # Numbered by position, two runs of one seed passed as a spread over seeds.
        raise SystemExit(f"the files come from runs of the seeds {seeds}: each seed once")
    rows = [row(seed, f) for seed, f in zip(seeds, files, strict=True)]
    for key in ("n_networks", "n_examples"):
        if len({r[key] for r in rows}) > 1:
            raise SystemExit(f"{key} differs between the files: {[r[key] for r in rows]}")
    summary = {}
    for q in QUANTITIES:
        values = [r[q] for r in rows]
        bad = [r["file"] for r in rows if r[q] is not None and not math.isfinite(r[q])]
        if bad:  # statistics.stdev failed on NaN with an AttributeError
            raise SystemExit(f"{q} is not finite in {', '.join(bad)} (a diverged network?); pass finite runs")
        if None not in values and len(values) > 1:
            summary[q] = {"mean": round(statistics.fmean(values), 4),
                          "std_over_seeds": round(statistics.stdev(values), 4)}
    rounded = [{k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    return {"what": what, "seeds": rounded, "over_seeds": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="metrics files, each in its run folder")
    parser.add_argument("--what", required=True, help="what was trained, for the record")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    record = over_seeds(args.files, args.what)
    atomic_write_json(args.out, record)
    print(json.dumps(record["over_seeds"], indent=1))


if __name__ == "__main__":
    main()

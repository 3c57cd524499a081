"""experiments/paper_scale.py on hand-made run folders: the target check at its thresholds, and
the OOD numbers read from either an `ood` result or a report (the script is ours: loaded from
the repository, not from user files)."""

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import load_experiment


@pytest.fixture(scope="module")
def paper_scale():
    return load_experiment("paper_scale")


def _run(path: Path, of_100: float, auroc: float, in_report: bool = False) -> Path:
    path.mkdir(parents=True)
    rows = [{"step": s, "lr": 1e-3, "loss": 0.1, "entropy": 1500.0 + s} for s in range(1, 5)]
    rows[1].update(val_mean_accuracy=0.98, val_ensemble_accuracy=0.985)
    rows[3].update(val_mean_accuracy=0.985, val_ensemble_accuracy=0.99)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = {"n_networks": 200, "n_examples": 10000, "mean_accuracy": 0.985, "std_accuracy": 0.002,
            "ensemble_accuracy_by_size": {"5": 0.98, "10": 0.985, "100": of_100},
            "ensemble_accuracy": of_100, "mean_nll": 0.1, "ensemble_nll": 0.04, "ensemble_ece": 0.003,
            "disagreement": 0.01, "entropy_estimate": 1600.0, "train_seconds": 12.5,
            "train_seconds_from_step": 0}
    (path / "metrics-test.json").write_text(json.dumps(test))
    scores = {"entropy": {"auroc": auroc}, "mutual_information": {"auroc": auroc + 0.01}}
    if in_report:
        (path / "report").mkdir()
        runs = {"ensemble-10 (ensemble)": {"n_networks": 10, "scores": {}},
                "this (deutsch)": {"n_networks": 100, "scores": scores}}
        (path / "report" / "report.json").write_text(json.dumps(
            {"run": "/elsewhere/this", "ood": {"n_inliers": 2000, "n_outliers": 2000, "runs": runs}}))
    else:
        (path / "ood").mkdir()
        (path / "ood" / "ood.json").write_text(json.dumps(
            {"n_networks": 100, "n_inliers": 2000, "n_outliers": 2000, "scores": scores}))
    return path


@pytest.mark.parametrize(("of_100", "auroc", "met"), [(0.99, 0.95, True), (0.9899, 0.97, False),
                                                      (0.995, 0.9499, False)])
def test_the_target_is_checked_at_its_thresholds(paper_scale, tmp_path, of_100, auroc, met):
    s = paper_scale.summarise("x", _run(tmp_path / "run", of_100, auroc))
    assert s["meets_target"] is met
    assert s["ood"]["entropy"] == auroc and s["ood"]["mutual_information"] == pytest.approx(auroc + 0.01)
    assert s["curve"]["step"] == [2, 4] and s["curve"]["entropy"] == [1502.0, 1504.0]
    assert s["train_seconds"] == 12.5


def test_report_written_with_either_ood_source(paper_scale, tmp_path, monkeypatch):
    a = _run(tmp_path / "a", 0.991, 0.96)
    b = _run(tmp_path / "b", 0.988, 0.97, in_report=True)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["paper_scale.py", "--run", f"A={a}", "--run", f"λ = 1={b}",
                                      "--out", str(out)])
    paper_scale.main()
    report = json.loads((out / "report.json").read_text())
    assert [s["meets_target"] for s in report["settings"]] == [True, False]
    assert report["settings"][1]["ood"]["source"] == "report/report.json"
    assert report["settings"][1]["label"] == "λ = 1"
    assert (out / "training.png").stat().st_size > 0
    assert "| A | 98.50% ± 0.20% | 99.10% |" in (out / "report.md").read_text()


def test_seed_001s_protocol_is_reported_where_the_run_has_it(paper_scale, tmp_path):
    run = _run(tmp_path / "run", 0.99, 0.96)
    assert paper_scale.summarise("x", run)["seed_protocol"] is None
    ensembles = {"count": 20, "size": 200, "majority": [0.99] * 20, "majority_mean": 0.9889,
                 "majority_std": 0.0002}
    (run / "metrics-val.json").write_text(json.dumps({"independent_ensembles": ensembles}))
    s = paper_scale.summarise("x", run)
    assert s["seed_protocol"] == {"count": 20, "size": 200, "majority_mean": 0.9889, "majority_std": 0.0002}
    assert paper_scale._protocol(s["seed_protocol"]) == "98.89% ± 0.02%"


def test_settings_are_set_against_their_seeds_by_a_one_way_anova(paper_scale, tmp_path):
    """F computed by hand from the definitions; the seed read from each run's config."""
    import statistics

    values = {"A": [0.990, 0.986], "B": [0.980, 0.983, 0.982], "C": [0.970]}  # C: one seed, left out
    settings = []
    for label, accs in values.items():
        for seed, acc in enumerate(accs):
            run = _run(tmp_path / f"{label}{seed}", acc, 0.96)
            (run / "config.yaml").write_text(f"train:\n  seed: {seed}\n")
            settings.append(paper_scale.summarise(label, run))
    got = paper_scale.settings_against_seeds(settings)
    assert got["settings"] == {"A": [0, 1], "B": [0, 1, 2]}
    q = got["quantities"]["ensemble_of_100"]
    a, b = values["A"], values["B"]
    grand = statistics.fmean(a + b)
    between = 2 * (statistics.fmean(a) - grand) ** 2 + 3 * (statistics.fmean(b) - grand) ** 2  # k - 1 = 1
    within = sum((x - statistics.fmean(v)) ** 2 for v in (a, b) for x in v) / 3  # N - k = 3
    assert q["f"] == pytest.approx(between / within) and q["dof"] == [1, 3]
    assert q["seed_std_pooled"] == pytest.approx(within ** 0.5)
    assert q["settings_std"] == pytest.approx(statistics.stdev([statistics.fmean(a), statistics.fmean(b)]))
    assert 0 < q["p"] < 1
    assert got["quantities"]["auroc_entropy"]["seed_std_pooled"] == 0
    assert got["quantities"]["auroc_entropy"]["f"] is None  # no spread at all: undefined, not NaN
    assert not got["quantities"]["auroc_entropy"]["f_infinite"]
    assert "| auroc_entropy | 0.960 | 0.960 | 0.000 | 0.000 | — | — |" in paper_scale._seed_lines(got)
    assert paper_scale._name(settings[1]) == "A, seed 1"
    assert paper_scale.settings_against_seeds(settings[:3]) is None  # one setting with seeds


def test_settings_that_differ_while_their_seeds_agree_are_infinitely_apart(paper_scale, tmp_path):
    settings = []
    for label, acc in (("A", 0.99), ("B", 0.98)):
        for seed in (0, 1):
            run = _run(tmp_path / f"{label}{seed}", acc, 0.96)
            (run / "config.yaml").write_text(f"train:\n  seed: {seed}\n")
            settings.append(paper_scale.summarise(label, run))
    q = paper_scale.settings_against_seeds(settings)["quantities"]["ensemble_of_100"]
    assert q["f"] is None and q["f_infinite"] and q["p"] == 0.0
    assert paper_scale._anova_cells(q) == "F(1, 2) = ∞ | 0.00 |"

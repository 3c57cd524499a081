"""experiments/paired_runs.py: its differences and paired statistics against scipy's own paired
t-test on the same numbers, from metrics files written as `hyperzoo evaluate` writes them."""

import json

import pytest
from scipy import stats

from tests.helpers import load_experiment


def metrics(path, mean, ensemble, nll=0.1):
    path.write_text(json.dumps({"mean_accuracy": mean, "ensemble_accuracy": ensemble, "ensemble_nll": nll,
                                "n_networks": 100, "n_examples": 5000}))
    return path


def test_pairs_match_scipys_paired_t_test(tmp_path):
    a = [(0.70, 0.72), (0.68, 0.71), (0.71, 0.73)]
    b = [(0.715, 0.73), (0.69, 0.705), (0.712, 0.74)]
    pairs = [(s, metrics(tmp_path / f"a{s}.json", *a[s]), metrics(tmp_path / f"b{s}.json", *b[s]))
             for s in range(3)]
    record = load_experiment("paired_runs").compare(("std", "raw"), pairs, "test")
    assert [p["raw_minus_std_points"]["mean_single"] for p in record["pairs"]] == [1.5, 1.0, 0.2]
    for q, index in (("mean_single", 0), ("ensemble_pool", 1)):
        pooled = record["raw_minus_std_points"][q]
        reference = stats.ttest_rel([x[index] for x in b], [x[index] for x in a])
        assert pooled["paired_t"] == pytest.approx(reference.statistic, abs=0.005)
        assert pooled["two_sided_p"] == pytest.approx(reference.pvalue, abs=0.0005)
        ci = reference.confidence_interval()
        assert pooled["ci95"] == pytest.approx([100 * ci.low, 100 * ci.high], abs=0.005)
    assert record["seed_spread_points_mean_single"] == {"std": 3.0, "raw": 2.5}
    assert record["raw_minus_std_ensemble_nll"]["per_pair"] == [0.0, 0.0, 0.0]


def test_the_ensemble_nll_difference_keeps_its_small_digits(tmp_path):
    pairs = [(s, metrics(tmp_path / f"a{s}.json", 0.9, 0.9, nll=0.03),
              metrics(tmp_path / f"b{s}.json", 0.9, 0.9, nll=0.03 + d))
             for s, d in enumerate([0.002, 0.004, 0.003])]
    nll = load_experiment("paired_runs").compare(("a", "b"), pairs, "nll")["b_minus_a_ensemble_nll"]
    assert nll["per_pair"] == [0.002, 0.004, 0.003]
    assert nll["mean"] == 0.003 and nll["std_over_pairs"] == 0.001


def test_one_pair_gives_its_difference_without_statistics(tmp_path):
    pairs = [(0, metrics(tmp_path / "a.json", 0.5, 0.5), metrics(tmp_path / "b.json", 0.6, 0.5))]
    record = load_experiment("paired_runs").compare(("a", "b"), pairs, "one")
    assert record["b_minus_a_points"]["mean_single"] == {"mean": 10.0}


def test_ood_aurocs_are_paired_from_the_ood_folder_beside_each_metrics_file(tmp_path):
    pairs = []
    for seed, (auroc_a, auroc_b) in enumerate([(0.95, 0.96), (0.94, 0.96)]):
        files = []
        for side, auroc in (("a", auroc_a), ("b", auroc_b)):
            (tmp_path / f"{side}{seed}" / "ood").mkdir(parents=True)
            files.append(metrics(tmp_path / f"{side}{seed}" / "metrics-test.json", 0.99, 0.99))
            scores = {"entropy": {"auroc": auroc}, "mutual_information": {"auroc": auroc - 0.01}}
            (tmp_path / f"{side}{seed}" / "ood" / "ood.json").write_text(json.dumps(
                {"scores": scores, "inliers": "mnist", "outliers": "notmnist", "n_networks": 100}))
        pairs.append((seed, *files))
    record = load_experiment("paired_runs").compare(("a", "b"), pairs, "ood", ood=True)
    pooled = record["b_minus_a_points"]
    assert pooled["ood_auroc_entropy"]["mean"] == pooled["ood_auroc_mutual_information"]["mean"] == 1.5
    assert record["pairs"][0]["a"]["ood"] == "mnist vs notmnist, 100 networks"


def test_runs_evaluated_differently_are_refused(tmp_path):
    a = metrics(tmp_path / "a.json", 0.9, 0.9)
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"mean_accuracy": 0.9, "ensemble_accuracy": 0.9, "ensemble_nll": 0.1,
                             "n_networks": 10, "n_examples": 5000}))
    with pytest.raises(SystemExit, match="n_networks differs, 100 in .* against 10"):
        load_experiment("paired_runs").compare(("a", "b"), [(0, a, b)], "mismatch")


def test_a_pairs_seed_must_be_its_runs(tmp_path):
    """The seed was taken from the command line as given, whatever the runs had trained with."""
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(f"train:\n  seed: {seed}\n")
        metrics(tmp_path / name / "metrics-test.json", 0.9, 0.9)
    pair = (0, tmp_path / "a" / "metrics-test.json", tmp_path / "b" / "metrics-test.json")
    with pytest.raises(SystemExit, match="comes from a run of seed 1, not the pair's 0"):
        load_experiment("paired_runs").compare(("a", "b"), [pair], "seeds")


def test_a_nan_difference_is_refused_in_one_line():
    """statistics.stdev raised an AttributeError on it."""
    with pytest.raises(SystemExit, match="a paired difference is not finite"):
        load_experiment("paired_runs").paired([0.1, float("nan"), 0.3])

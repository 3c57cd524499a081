"""experiments/over_seeds.py against numpy's mean and sample standard deviation."""

import json

import numpy as np
import pytest

from tests.helpers import load_experiment


def metrics(path, mean, pool, n_networks=100):
    path.write_text(json.dumps({"mean_accuracy": mean, "std_accuracy": 0.005, "ensemble_accuracy": pool,
                                "ensemble_accuracy_by_size": {"5": pool - 0.01, "10": pool - 0.005},
                                "ensemble_nll": 1.0 + mean, "n_networks": n_networks, "n_examples": 10000}))
    return path


def test_mean_and_spread_over_seeds_match_numpy(tmp_path):
    means, pools = [0.556, 0.5423, 0.5475], [0.5836, 0.5699, 0.581]
    files = [metrics(tmp_path / f"s{i}.json", m, p)
             for i, (m, p) in enumerate(zip(means, pools, strict=True))]
    record = load_experiment("over_seeds").over_seeds(files, "test")
    assert [r["seed"] for r in record["seeds"]] == [0, 1, 2]
    for key, values in (("mean_single", means), ("ensemble_pool", pools)):
        assert record["over_seeds"][key]["mean"] == pytest.approx(np.mean(values), abs=5e-5)
        assert record["over_seeds"][key]["std_over_seeds"] == pytest.approx(np.std(values, ddof=1), abs=5e-5)


def test_files_with_other_pool_sizes_are_refused(tmp_path):
    files = [metrics(tmp_path / "a.json", 0.5, 0.5), metrics(tmp_path / "b.json", 0.5, 0.5, n_networks=10)]
    with pytest.raises(SystemExit, match="n_networks differs"):
        load_experiment("over_seeds").over_seeds(files, "test")


def test_seeds_are_read_from_the_run_folders_and_each_counted_once(tmp_path):
    """The files' positions were taken for their seeds: two runs of one seed passed as two."""
    files = []
    for name, seed in (("a", 7), ("b", 3)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(f"train:\n  seed: {seed}\n")
        files.append(metrics(tmp_path / name / "metrics-test.json", 0.5, 0.5))
    over_seeds = load_experiment("over_seeds").over_seeds
    assert [r["seed"] for r in over_seeds(files, "test")["seeds"]] == [7, 3]
    (tmp_path / "b" / "config.yaml").write_text("train:\n  seed: 7\n")
    with pytest.raises(SystemExit, match=r"the seeds \[7, 7\]: each seed once"):
        over_seeds(files, "test")


def test_a_nan_number_is_refused_naming_its_file(tmp_path):
    """statistics.stdev raised an AttributeError on it."""
    files = [metrics(tmp_path / "a.json", 0.5, 0.5), metrics(tmp_path / "b.json", float("nan"), 0.5)]
    with pytest.raises(SystemExit, match=r"mean_single is not finite in .*b\.json"):
        load_experiment("over_seeds").over_seeds(files, "test")

"""experiments/table1.py's spread over training seeds against a hand computation (the script
is ours: loaded from the repository, not from user files)."""


import pytest

from tests.helpers import load_experiment


@pytest.fixture(scope="module")
def table1():
    return load_experiment("table1")


def _cols(c_main, d_main, replicas):
    def main(mean, majority):
        return {"mean_accuracy": mean, "independent_ensembles": {"majority_mean": majority}}

    seeds = {col: {str(s): {"train_seed": s, "mean_accuracy": m, "majority_mean": v}
                   for s, (m, v) in reps.items()} for col, reps in replicas.items()}
    return {"c": main(*c_main), "d": main(*d_main), "seeds": seeds}


def test_seed_rows_pair_c_and_d_per_seed(table1):
    cols = _cols((0.60, 0.61), (0.62, 0.63),
                 {"c": {1: (0.58, 0.59), 2: (0.61, 0.62)}, "d": {1: (0.60, 0.62)}})
    rows = table1.seed_rows(cols)
    assert [r["train_seed"] for r in rows] == [0, 1]  # seed 2 has no (d): left out
    assert rows[1]["c"]["majority_mean"] == 0.59 and rows[1]["d"]["majority_mean"] == 0.62


def test_seed_summary_matches_hand_computation(table1):
    cols = _cols((0.60, 0.61), (0.62, 0.63),
                 {"c": {1: (0.58, 0.59), 2: (0.61, 0.62)}, "d": {1: (0.60, 0.62), 2: (0.60, 0.61)}})
    summary = table1.seed_summary(table1.seed_rows(cols))
    diffs = [0.63 - 0.61, 0.62 - 0.59, 0.61 - 0.62]  # (d) − (c) majority per seed
    mean = sum(diffs) / 3
    std = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5  # sample std, n − 1
    m = summary["majority_mean"]
    assert summary["seeds"] == [0, 1, 2]
    assert m["mean"] == pytest.approx(mean) and m["std"] == pytest.approx(std)
    assert m["stderr"] == pytest.approx(std / 3 ** 0.5)
    assert table1.seed_summary(table1.seed_rows(cols)[:1]) is None  # one seed: no spread

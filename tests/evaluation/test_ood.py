import math

import pytest
import torch

from hyperzoo.evaluation.ood import detection_metrics, predictive_entropy


def test_perfectly_separated_scores():
    m = detection_metrics(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.7, 0.8]))
    assert m == {"auroc": 1.0, "auroc_se": None, "aupr": 1.0, "fpr_at_95_tpr": 0.0}


def test_identical_score_sets_are_chance():
    s = torch.tensor([0.1, 0.5, 0.9, 0.3])
    m = detection_metrics(s, s.clone())
    assert m["auroc"] == pytest.approx(0.5)
    assert m["fpr_at_95_tpr"] == 1.0


def test_hand_computed_auroc():
    # Pairs (outlier > inlier): 0.4 beats 0.1, 0.35; 0.2 beats 0.1 → 3 of 4.
    m = detection_metrics(torch.tensor([0.1, 0.35]), torch.tensor([0.4, 0.2]))
    assert m["auroc"] == pytest.approx(0.75)


def naive_fpr_at_95_tpr(inliers: list[float], outliers: list[float]) -> float:
    """Sweep every threshold (outlier when score ≥ t), highest first: the first to flag 95% of
    the outliers, and the share of inliers it flags."""
    for t in sorted(set(inliers) | set(outliers), reverse=True):
        if sum(o >= t for o in outliers) >= 0.95 * len(outliers):
            return sum(i >= t for i in inliers) / len(inliers)
    return 1.0


@pytest.mark.parametrize("seed", range(20))
def test_fpr_at_95_tpr_equals_a_threshold_sweep_with_tied_scores(seed):
    """Tied scores put collinear points on the ROC curve; dropping them (sklearn's default)
    skipped the first threshold at 95% TPR: 0.167 instead of 0.083 in the first case."""
    cases = [([0.0] * 10 + [1, 2], [1, 2] + [3] * 18)]
    g = torch.Generator().manual_seed(seed)
    cases.append((torch.randint(0, 6, (30,), generator=g).tolist(),
                  (torch.randint(0, 6, (40,), generator=g) + 2).tolist()))
    for inl, out in cases:
        m = detection_metrics(torch.tensor(inl, dtype=torch.float64),
                              torch.tensor(out, dtype=torch.float64))
        assert m["fpr_at_95_tpr"] == pytest.approx(naive_fpr_at_95_tpr(inl, out))


def test_predictive_entropy():
    uniform = torch.full((3, 1, 4), 0.25)
    sure = torch.tensor([[[1.0, 0, 0, 0]], [[1.0, 0, 0, 0]]])
    disagree = torch.tensor([[[1.0, 0]], [[0, 1.0]]])
    assert predictive_entropy(uniform).item() == pytest.approx(math.log(4))
    assert predictive_entropy(sure).item() == pytest.approx(0.0)
    assert predictive_entropy(disagree).item() == pytest.approx(math.log(2))


def test_empty_sets_are_refused():
    with pytest.raises(ValueError, match="at least one inlier"):
        detection_metrics(torch.tensor([]), torch.tensor([1.0]))


def test_nan_scores_are_one_line_not_sklearns_traceback():
    from hyperzoo.runs import RunError

    with pytest.raises(RunError, match="1 of 5 detection scores are NaN: a network's outputs hold NaN"):
        detection_metrics(torch.tensor([0.1, float("nan"), 0.3]), torch.tensor([0.7, 0.8]))


def test_both_scores_rank_an_uncertain_ensemble_above_a_confident_one():
    """Outliers are the positive class and a higher score means "outlier": a uniform prediction
    must outscore a one-hot one by entropy and by mutual information (only a workflow test
    caught a negated score)."""
    from hyperzoo.evaluation.ood import ood_scores

    confident = torch.tensor([[1.0, 0.0, 0.0]]).expand(4, 1, 3)
    uniform = torch.full((4, 1, 3), 1 / 3)
    disagreeing = torch.eye(3)[[0, 1, 2, 0]].unsqueeze(1)  # each network sure, of another class
    sure, unsure, split = ood_scores(confident), ood_scores(uniform), ood_scores(disagreeing)
    assert unsure["entropy"] > sure["entropy"] and split["entropy"] > sure["entropy"]
    assert split["mutual_information"] > sure["mutual_information"]
    assert split["mutual_information"] > unsure["mutual_information"]  # all agree: none


def test_the_auroc_standard_error_is_hanley_mcneils_and_matches_the_spread_over_samples():
    from hyperzoo.evaluation.ood import auroc_standard_error, detection_metrics

    # Hanley & McNeil (1982), by hand: A = 0.5, 10 against 10 (Q1 = 1/3, Q2 = 1/3).
    by_hand = ((0.25 + 9 * (1 / 3 - 0.25) + 9 * (1 / 3 - 0.25)) / 100) ** 0.5
    assert auroc_standard_error(0.5, 10, 10) == pytest.approx(by_hand, rel=1e-12)
    assert auroc_standard_error(1.0, 3, 3) is None  # the approximation's 0 is no spread measured
    # Gaussian scores a distance 1.5 apart, 200 against 200: the AUROC's spread over 300 fresh
    # samples agrees with the estimate from one sample.
    g = torch.Generator().manual_seed(0)
    def draw() -> dict:
        return detection_metrics(torch.randn(200, generator=g), torch.randn(200, generator=g) + 1.5)

    aurocs = [draw()["auroc"] for _ in range(300)]
    estimate = draw()["auroc_se"]
    assert estimate == pytest.approx(torch.tensor(aurocs).std().item(), rel=0.2)

import math

import pytest
import torch

from hyperzoo.evaluation.ood import detection_metrics, predictive_entropy


def test_perfectly_separated_scores():
    m = detection_metrics(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.7, 0.8]))
    assert m == {"auroc": 1.0, "aupr": 1.0, "fpr_at_95_tpr": 0.0}


def test_identical_score_sets_are_chance():
    s = torch.tensor([0.1, 0.5, 0.9, 0.3])
    m = detection_metrics(s, s.clone())
    assert m["auroc"] == pytest.approx(0.5)
    assert m["fpr_at_95_tpr"] == 1.0


def test_hand_computed_auroc():
    # Pairs (outlier > inlier): 0.4 beats 0.1, 0.35; 0.2 beats 0.1 → 3 of 4.
    m = detection_metrics(torch.tensor([0.1, 0.35]), torch.tensor([0.4, 0.2]))
    assert m["auroc"] == pytest.approx(0.75)


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

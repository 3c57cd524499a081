"""A diverged network's NaN outputs are misses, never class 0 (argmax of a NaN row)."""

import torch

from hyperzoo.analysis.ambiguous import vote_counts
from hyperzoo.analysis.ensembles import ensemble_accuracies
from hyperzoo.evaluation import disagreement, ensemble_metrics
from hyperzoo.evaluation.predictions import NONE, majority, predicted


def pool_with_a_diverged_network():
    """Ten networks, all right on every input, on inputs all of class 0 to 3; network 3 NaN."""
    y = torch.arange(8) % 4
    probs = torch.nn.functional.one_hot(y, 4).double().expand(10, -1, -1).clone()
    probs[3] = torch.nan
    return probs, y


def test_a_nan_row_predicts_no_class_and_gets_no_vote():
    probs, y = pool_with_a_diverged_network()
    assert (predicted(probs[3]) == NONE).all() and torch.equal(predicted(probs[0]), y)
    assert torch.equal(vote_counts(probs).sum(-1), torch.full((8,), 9))
    assert torch.equal(majority(probs), y)
    assert (majority(probs[3:4]) == NONE).all()  # nobody voted


def test_ensemble_accuracies_count_a_nan_network_as_a_miss():
    probs, y = pool_with_a_diverged_network()
    m = ensemble_metrics(probs, y)
    # The mean over networks is NaN everywhere: it was class 0, 25% "right".
    assert m["ensemble_accuracy"] == 0.0
    assert m["majority_accuracy"] == 1.0
    assert m["min_accuracy"] == 0.0 and m["mean_accuracy"] == 0.9
    acc = ensemble_accuracies(probs, y, 10, 1)
    assert acc["mean_prob"].item() == 0.0 and acc["majority"].item() == 1.0
    # Ensembles without network 3 are right everywhere.
    acc = ensemble_accuracies(torch.cat([probs[:3], probs[4:]]), y, 5, 4, torch.Generator().manual_seed(0))
    assert (acc["mean_prob"] == 1).all() and (acc["majority"] == 1).all()


def test_a_nan_network_disagrees_with_every_other():
    probs, _ = pool_with_a_diverged_network()
    # Naive: 9 of the 45 pairs include network 3.
    assert torch.allclose(disagreement(probs), torch.full((8,), 9 / 45, dtype=torch.float64))
    probs[5] = torch.nan  # two NaN networks do not agree with each other either: 17 of 45
    assert torch.allclose(disagreement(probs), torch.full((8,), 17 / 45, dtype=torch.float64))


def test_majority_ties_go_to_the_lowest_class():
    from hyperzoo.evaluation.predictions import majority
    probs = torch.tensor([[[0.1, 0.2, 0.7]], [[0.1, 0.8, 0.1]]], dtype=torch.float64)  # votes 2, 1
    assert majority(probs).tolist() == [1]

import pytest
import torch

from hyperzoo.analysis.ensembles import accuracy_vs_size, ensemble_accuracies


def test_independent_errors_average_out():
    # 101 networks, each right on a random 70% of 2-class examples: ensembles beat singles.
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(500, dtype=torch.long)
    right = torch.rand(101, 500, generator=g) < 0.7
    probs = torch.stack([right.double() * 0.6 + 0.2, (~right).double() * 0.6 + 0.2], -1)
    rows = accuracy_vs_size(probs, y, [1, 11, 101], count=5, generator=g)
    assert [r["size"] for r in rows] == [1, 11, 101]
    assert rows[0]["majority_mean"] == pytest.approx(0.7, abs=0.05)
    assert rows[1]["majority_mean"] > 0.85 and rows[2]["majority_mean"] > 0.99
    # The whole pool is one draw: no spread measured (0.0 read as one), and the draws are said.
    assert rows[2]["majority_std"] is None and rows[2]["draws"] == 1
    assert rows[1]["draws"] == 5 and rows[1]["majority_std"] > 0


def test_identical_networks_gain_nothing():
    probs = torch.softmax(torch.randn(1, 50, 4), -1).expand(10, 50, 4)
    y = torch.randint(4, (50,))
    acc = ensemble_accuracies(probs, y, size=5, count=3)
    single = (probs[0].argmax(-1) == y).double().mean()
    torch.testing.assert_close(acc["mean_prob"], single.expand(3))
    torch.testing.assert_close(acc["majority"], single.expand(3))


def test_size_must_fit_the_pool():
    with pytest.raises(ValueError, match="ensemble size 20 must be between 1 and the pool size 10"):
        ensemble_accuracies(torch.rand(10, 3, 2).softmax(-1), torch.zeros(3, dtype=torch.long), 20, 1)


def test_labels_of_another_shape_are_refused():
    """(B, 1) labels broadcast against (B,) predictions to (B, B): another accuracy, no error."""
    probs = torch.softmax(torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0)), -1)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        accuracy_vs_size(probs, y[:, None], [2])


def test_an_ensemble_of_the_whole_pool_is_the_pool_without_repeats():
    from hyperzoo.analysis.ensembles import ensemble_accuracies
    # One example of class 0; only network 0 is confident: the pool's mean prob is right (0.567),
    # the vote wrong (1 of 3); any repeat of network 1 or 2 makes the mean wrong too.
    p0 = torch.tensor([0.9, 0.4, 0.4], dtype=torch.float64)
    probs = torch.stack([p0, 1 - p0], -1)[:, None, :]  # (3, 1, 2)
    acc = ensemble_accuracies(probs, torch.zeros(1, dtype=torch.long), size=3, count=20,
                              generator=torch.Generator().manual_seed(0))
    assert (acc["mean_prob"] == 1).all() and (acc["majority"] == 0).all()


def test_size_1_is_every_network_of_the_pool():
    """20 random draws put a second "single network" accuracy beside the pool's mean (93.03% vs
    93.13% in a review's report)."""
    from hyperzoo.evaluation import ensemble_metrics

    g = torch.Generator().manual_seed(0)
    probs = torch.rand(7, 50, 4, generator=g, dtype=torch.float64).softmax(-1)
    y = torch.randint(4, (50,), generator=g)
    row = accuracy_vs_size(probs, y, [1, 3], count=20, generator=g)[0]
    single = (probs.argmax(-1) == y).double().mean(1)
    assert row["size"] == 1 and row["mean_prob_mean"] == row["majority_mean"]
    assert row["mean_prob_mean"] == pytest.approx(single.mean().item())
    assert row["mean_prob_std"] == pytest.approx(single.std().item())
    assert row["mean_prob_mean"] == pytest.approx(ensemble_metrics(probs, y)["mean_accuracy"])


def test_size_1_leaves_the_later_draws_as_they_were():
    """Size 1 stopped drawing: every later size, and the report's paths (the same generator),
    drew other ensembles, so committed reports no longer reproduced from their commands."""
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(7, 50, 4, generator=g, dtype=torch.float64).softmax(-1)
    y = torch.randint(4, (50,), generator=g)
    a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    later = accuracy_vs_size(probs, y, [1, 2, 5], count=10, generator=a)[1:]
    for _ in range(10):  # what size 1 drew before
        torch.randperm(7, generator=b)
    assert later == accuracy_vs_size(probs, y, [2, 5], count=10, generator=b)
    assert torch.equal(torch.randperm(7, generator=a), torch.randperm(7, generator=b))

import itertools

import pytest
import torch

from hyperzoo.evaluation import disagreement


def test_hand_computed():
    # 3 networks, 2 inputs: argmax [0, 0, 1] (2 of 3 pairs differ) and [2, 2, 2] (none).
    probs = torch.tensor([[[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]],
                          [[0.5, 0.4, 0.1], [0.2, 0.2, 0.6]],
                          [[0.3, 0.6, 0.1], [0.0, 0.4, 0.6]]], dtype=torch.float64)
    torch.testing.assert_close(disagreement(probs), torch.tensor([2 / 3, 0.0], dtype=torch.float64))


def test_equals_the_mean_over_pairs():
    probs = torch.softmax(torch.randn(6, 40, 4, dtype=torch.float64), -1)
    pred = probs.argmax(-1)
    pairs = [(pred[i] != pred[j]).double().mean().item() for i, j in itertools.combinations(range(6), 2)]
    assert disagreement(probs).mean().item() == pytest.approx(sum(pairs) / len(pairs))


def test_one_network_never_disagrees():
    assert disagreement(torch.softmax(torch.randn(1, 5, 3), -1)).eq(0).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_counts_votes_exactly(dtype):
    """n_c (n_c - 1) overflowed float16 (-inf, NaN) from 256 networks and rounded in bfloat16."""
    for n, flip in ((300, 0), (1000, 10)):
        probs = torch.zeros(n, 1, 2, dtype=dtype)
        probs[:, 0, 0] = 1
        probs[:flip, 0] = torch.tensor([0.0, 1.0], dtype=dtype)
        naive = flip * (n - flip) / (n * (n - 1) / 2)
        assert disagreement(probs).item() == pytest.approx(naive, rel=1e-2, abs=1e-3)

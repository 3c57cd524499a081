import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss

from hyperzoo.evaluation import brier


def test_hand_computed():
    probs = torch.tensor([[[0.8, 0.2], [0.4, 0.6]],
                          [[0.5, 0.5], [0.9, 0.1]]], dtype=torch.float64)
    labels = torch.tensor([0, 1])
    # Network 0: (0.2² + 0.2² + 0.4² + 0.4²) / 2 = 0.2; network 1: (0.5² + 0.5² + 0.9² + 0.9²) / 2 = 1.06.
    torch.testing.assert_close(brier(probs, labels), torch.tensor([0.2, 1.06], dtype=torch.float64))
    # Ensemble [0.65, 0.35] twice: (2 · 0.35² + 2 · 0.65²) / 2 = 0.545.
    assert brier(probs.mean(0), labels).item() == pytest.approx(0.545)


def test_agrees_with_scikit_learn_multiclass():
    probs = torch.softmax(torch.randn(3, 20, 4, dtype=torch.float64), -1)
    labels = torch.randint(0, 4, (20,))
    for p, value in zip(probs, brier(probs, labels), strict=True):
        assert value.item() == pytest.approx(brier_score_loss(labels.numpy(), p.numpy(), labels=np.arange(4)))


def test_bounds():
    labels = torch.tensor([0, 1])
    assert brier(torch.eye(2, dtype=torch.float64), labels).item() == 0.0
    assert brier(torch.eye(2, dtype=torch.float64).flip(0), labels).item() == 2.0

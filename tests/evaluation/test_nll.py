import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from hyperzoo.evaluation import nll

# 2 networks, 2 examples, 2 classes; labels [0, 1].
PROBS = torch.tensor([[[0.8, 0.2], [0.4, 0.6]],
                      [[0.5, 0.5], [0.9, 0.1]]], dtype=torch.float64)
LABELS = torch.tensor([0, 1])


def test_hand_computed_per_network_and_ensemble():
    expected = [-(math.log(0.8) + math.log(0.6)) / 2, -(math.log(0.5) + math.log(0.1)) / 2]
    torch.testing.assert_close(nll(PROBS, LABELS), torch.tensor(expected, dtype=torch.float64))
    # Ensemble: mean probabilities [0.65, 0.35] and [0.65, 0.35].
    assert nll(PROBS.mean(0), LABELS).item() == pytest.approx(-(math.log(0.65) + math.log(0.35)) / 2)


def test_agrees_with_scikit_learn():
    probs = torch.softmax(torch.randn(3, 20, 4, dtype=torch.float64), -1)
    labels = torch.randint(0, 4, (20,))
    for p, value in zip(probs, nll(probs, labels), strict=True):
        assert value.item() == pytest.approx(log_loss(labels.numpy(), p.numpy(), labels=np.arange(4)))


def test_a_certain_mistake_is_finite():
    assert nll(torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([1])).item() == pytest.approx(
        -math.log(1e-12))

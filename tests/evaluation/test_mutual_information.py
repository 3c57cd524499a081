import math

import pytest
import torch

from hyperzoo.evaluation import mutual_information


def h(*p: float) -> float:
    return -sum(v * math.log(v) for v in p if v > 0)


def test_hand_computed():
    probs = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]],
                          [[0.0, 1.0], [0.5, 0.5], [0.5, 0.5]]], dtype=torch.float64)
    mi = mutual_information(probs)
    # Certain but opposite: log 2. Equally unsure: 0. Otherwise H(mean) − mean H.
    expected = [math.log(2), 0.0, h(0.7, 0.3) - (h(0.9, 0.1) + h(0.5, 0.5)) / 2]
    torch.testing.assert_close(mi, torch.tensor(expected, dtype=torch.float64))


def test_non_negative_and_zero_for_one_network():
    probs = torch.softmax(torch.randn(5, 50, 4, dtype=torch.float64), -1)
    assert (mutual_information(probs) >= 0).all()
    assert mutual_information(probs[:1]).abs().max().item() == pytest.approx(0.0, abs=1e-12)

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


def test_entropy_of_tiny_probabilities_is_exact_and_identical_networks_give_zero():
    """No clamp: p log p for p below 1e-12 too, so very confident inputs keep their order (a
    clamp reversed these two, and with them an OOD ranking); identical float32 networks give
    no more than float64 rounding (float32 arithmetic left 1e-7)."""
    from hyperzoo.evaluation.entropy import entropy

    a = torch.tensor([1 - 1e-13, 1e-13], dtype=torch.float64)
    b = torch.tensor([1 - 9.5e-14] + [9.5e-15] * 10, dtype=torch.float64)
    assert entropy(a).item() == pytest.approx(h(*a.tolist()), rel=1e-9)
    assert entropy(a) < entropy(b)
    logits = torch.randn(1, 6, 10, generator=torch.Generator().manual_seed(0))
    same = torch.softmax(logits, -1).expand(7, 6, 10)
    assert mutual_information(same.float()).max() < 1e-12

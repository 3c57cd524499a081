import pytest
import torch

from hyperzoo.evaluation import aurc


def _probs(conf: list[float], pred: list[int], classes: int = 3) -> torch.Tensor:
    """Rows whose max probability ``conf`` sits on class ``pred``."""
    p = torch.zeros(len(conf), classes, dtype=torch.float64)
    for i, (c, k) in enumerate(zip(conf, pred, strict=True)):
        p[i] = (1 - c) / (classes - 1)
        p[i, k] = c
    return p


def test_hand_computed_distinct_confidences():
    # Sorted by confidence the errors are [no, yes, no, yes]: risks 0/1, 1/2, 1/3, 2/4.
    probs = _probs([0.9, 0.8, 0.7, 0.6], [0, 1, 2, 0])
    labels = torch.tensor([0, 0, 2, 1])
    assert aurc(probs, labels).item() == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)


def test_ties_count_as_a_random_order():
    # Two inputs tied at 0.9, one wrong, then a right one at 0.5: the two orders give risks
    # (1, 1/2, 1/3) and (0, 1/2, 1/3); their mean is the expected AURC.
    probs = _probs([0.9, 0.9, 0.5], [0, 1, 2])
    labels = torch.tensor([1, 1, 2])
    expected = ((1 + 1 / 2 + 1 / 3) + (0 + 1 / 2 + 1 / 3)) / 6
    assert aurc(probs, labels).item() == pytest.approx(expected)
    assert aurc(probs.flip(0), labels.flip(0)).item() == pytest.approx(expected)


def test_per_network_and_bounds():
    probs = torch.softmax(torch.randn(3, 30, 4, dtype=torch.float64), -1)
    labels = torch.randint(0, 4, (30,))
    batched = aurc(probs, labels)
    assert batched.shape == (3,)
    for p, value in zip(probs, batched, strict=True):
        assert value.item() == pytest.approx(aurc(p, labels).item())
    right = torch.eye(3, dtype=torch.float64)
    assert aurc(right, torch.arange(3)).item() == 0.0
    assert aurc(right, torch.tensor([1, 2, 0])).item() == 1.0


def test_a_network_with_nan_outputs_gets_nan():
    """Its argmax was class 0: a dead network scored as right wherever the label was 0 (0.0, a
    perfect AURC, where every label was 0), while NLL, Brier and ECE said NaN."""
    good = _probs([0.9, 0.8, 0.7], [0, 0, 1])
    probs = torch.stack([good, torch.full_like(good, float("nan"))])
    out = aurc(probs, torch.zeros(3, dtype=torch.long))
    assert not out[0].isnan() and out[1].isnan()

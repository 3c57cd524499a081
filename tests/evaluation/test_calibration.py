import pytest
import torch

from hyperzoo.evaluation import ece, reliability_bins


def test_hand_computed_bins_and_ece():
    # Confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.4 (right); 5 bins of width 0.2, each
    # closed on the right: 0.4 falls in (0.2, 0.4], 0.6 in (0.4, 0.6].
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.3, 0.3, 0.4]],
                         dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 2])
    b = reliability_bins(probs, labels, bins=5)
    torch.testing.assert_close(b["count"], torch.tensor([0, 1, 1, 0, 2], dtype=torch.float64))
    torch.testing.assert_close(b["confidence"], torch.tensor([0, 0.4, 0.6, 0, 0.9], dtype=torch.float64))
    torch.testing.assert_close(b["accuracy"], torch.tensor([0, 1, 1, 0, 0.5], dtype=torch.float64))
    # (1/4)|1 − 0.4| + (1/4)|1 − 0.6| + (2/4)|0.5 − 0.9| = 0.15 + 0.1 + 0.2
    assert ece(probs, labels, bins=5).item() == pytest.approx(0.45)


def test_per_network_equals_separate_calls_and_torchmetrics():
    from torchmetrics.functional.classification import multiclass_calibration_error

    probs = torch.softmax(3 * torch.randn(4, 200, 5, dtype=torch.float64), -1)
    labels = torch.randint(0, 5, (200,))
    batched = ece(probs, labels)
    assert batched.shape == (4,)
    for p, value in zip(probs, batched, strict=True):
        assert value.item() == pytest.approx(ece(p, labels).item())
        # No confidence sits on a bin edge here, where the two conventions differ.
        assert value.item() == pytest.approx(multiclass_calibration_error(
            p, labels, num_classes=5, n_bins=15, norm="l1").item())


def test_perfectly_calibrated_and_confidently_wrong():
    labels = torch.tensor([0, 1])
    assert ece(torch.eye(2, dtype=torch.float64), labels).item() == 0.0
    assert ece(torch.eye(2, dtype=torch.float64).flip(0), labels).item() == 1.0
    with pytest.raises(ValueError, match="at least one bin"):
        ece(torch.eye(2), labels, bins=0)


def test_reliability_figure(tmp_path):
    from hyperzoo import figures

    probs = torch.softmax(torch.randn(2, 50, 3), -1)
    labels = torch.randint(0, 3, (50,))
    name = figures.reliability_diagram({"ensemble": reliability_bins(probs.mean(0), labels),
                                        "singles": reliability_bins(probs.flatten(0, 1), labels.repeat(2))},
                                       tmp_path / "reliability.png")
    assert name == "reliability.png" and (tmp_path / name).stat().st_size > 1000


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_confidence_exactly_on_an_edge_falls_in_the_bin_it_closes(dtype):
    """Bins are (i/15, (i+1)/15]: every k/N of a few saturated networks' mean lands in the bin
    it closes, in float32 too (linspace put 9/15 at 0.59999996 there)."""
    for n in range(1, 31):
        for k in range(1, n + 1):
            conf = torch.tensor(k, dtype=dtype) / n  # as a mean of n one-hot predictions
            probs = torch.stack([conf, 1 - conf])[None]  # (1, 2)
            count = reliability_bins(probs, torch.zeros(1, dtype=torch.long))["count"]
            expected = max(0, -(-k * 15 // n) - 1)  # ceil(15 k / n) - 1: the bin (i/15, (i+1)/15]
            if conf < 0.5:  # the top label is then the other class, with confidence 1 - k/n
                continue
            assert int(count.argmax()) == expected, (k, n)

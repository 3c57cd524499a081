"""Metric inputs: logits, wrong shapes and labels beyond the classes are refused, not scored."""

import pytest
import torch

from hyperzoo.evaluation import (
    aurc,
    brier,
    disagreement,
    ece,
    mutual_information,
    nll,
    predictive_entropy,
    regression_metrics,
    reliability_bins,
    uncertainty_metrics,
)

g = torch.Generator().manual_seed(0)
LOGITS = 3 * torch.randn(3, 8, 4, generator=g)
PROBS = LOGITS.softmax(-1)
LABELS = torch.randint(0, 4, (8,), generator=g)
LABELLED = [nll, brier, ece, aurc, reliability_bins, uncertainty_metrics]
ENSEMBLE_ONLY = [mutual_information, predictive_entropy, disagreement]


@pytest.mark.parametrize("metric", LABELLED + ENSEMBLE_ONLY)
def test_logits_are_refused(metric):
    # Before: an NLL below 0, a Brier score of 35 (range 0-2), an ECE of 3.5, NaN entropies.
    args = (LOGITS, LABELS) if metric in LABELLED else (LOGITS,)
    with pytest.raises(ValueError, match=r"must be class probabilities .*logits\? pass predict_proba"):
        metric(*args)


@pytest.mark.parametrize("metric", LABELLED)
def test_labels_must_be_the_inputs_classes(metric):
    out_of_range = r"labels must be classes 0..3 \(probs has 4\); got values from 0 to 7"
    with pytest.raises(ValueError, match=out_of_range):
        metric(PROBS, torch.tensor([0, 1, 2, 3, 0, 1, 2, 7]))  # ece and aurc scored 7 as a miss
    with pytest.raises(ValueError, match=r"labels must be \(8,\)"):
        metric(PROBS, LABELS[:5])
    with pytest.raises(ValueError, match="labels must be integer classes"):
        metric(PROBS, LABELS.float())


@pytest.mark.parametrize("metric", ENSEMBLE_ONLY)
def test_ensemble_scores_need_the_network_axis(metric):
    # A (B, C) batch was read as B networks: one number for the whole set.
    with pytest.raises(ValueError, match=r"must be \(N, B, C\) \(networks, inputs, classes\), got shape "
                                         r"\(8, 4\)"):
        metric(PROBS[0])


def test_one_output_regression_predictions_are_read_as_n_by_b():
    # (N, B, 1) against (B,) broadcast to (N, B, B): wrong numbers, no error.
    preds, y = torch.randn(5, 7, 1, generator=g), torch.randn(7, generator=g)
    assert regression_metrics(preds, y) == regression_metrics(preds[..., 0], y)
    with pytest.raises(ValueError, match=r"predictions \(N, B\) .* got \(5, 7, 2\) and \(7,\)"):
        regression_metrics(torch.randn(5, 7, 2), y)


def test_counts_and_half_precision():
    b = reliability_bins(PROBS, LABELS, bins=5)
    assert b["count"].dtype == torch.float64  # a float32 count stops at 2^24
    assert b["count"].sum(-1).tolist() == [8.0, 8.0, 8.0]
    zero = torch.tensor([[0.0, 1.0]], dtype=torch.float16)
    # MIN_PROB underflowed to 0 in float16: the NLL of a confident miss was infinite.
    assert nll(zero, torch.tensor([0])).item() == pytest.approx(27.631, rel=1e-3)  # -log 1e-12


def test_what_the_checks_let_through():
    """A diverged network's NaN still gives NaN, not an error mid-training; any leading axes and
    int32 labels are taken."""
    nan = PROBS.clone()
    nan[1, 2] = float("nan")
    assert nll(nan, LABELS)[1].isnan() and nll(nan, LABELS)[0].isfinite()
    masked = PROBS.clone()
    masked[..., 0] = float("-inf")  # logits masked with -inf are still logits
    with pytest.raises(ValueError, match="must be class probabilities"):
        nll(masked, LABELS)
    assert reliability_bins(PROBS[None], LABELS)["count"].shape == (1, 3, 15)
    torch.testing.assert_close(brier(PROBS, LABELS.int()), brier(PROBS, LABELS))
    torch.testing.assert_close(nll(PROBS, LABELS.int()), nll(PROBS, LABELS))


@pytest.mark.parametrize("shape", [(3, 0, 4), (0, 5, 4), (3, 5, 0)])
def test_empty_probabilities_are_one_clear_error_in_every_metric(shape):
    from hyperzoo.evaluation.uncertainty import METRICS, uncertainty_metrics

    probs, labels = torch.empty(shape), torch.zeros(shape[1], dtype=torch.long)
    for fn in METRICS.values():
        with pytest.raises(ValueError, match="no networks, inputs or classes to score"):
            fn(probs, labels)
    with pytest.raises(ValueError, match="no networks, inputs or classes to score"):
        uncertainty_metrics(probs, labels)

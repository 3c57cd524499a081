import pytest
import torch

from hyperzoo.evaluation import brier, ensemble_metrics, nll, uncertainty_metrics


def test_keys_and_consistency():
    probs = torch.softmax(torch.randn(4, 30, 3, dtype=torch.float64), -1)
    labels = torch.randint(0, 3, (30,))
    m = uncertainty_metrics(probs, labels)
    for name in ("nll", "brier", "ece", "aurc"):
        assert {f"mean_{name}", f"std_{name}", f"ensemble_{name}"} <= m.keys()
    assert m["ece_bins"] == 15 and 0 <= m["disagreement"] <= 1 and m["mutual_information"] >= 0
    assert m["mean_nll"] == pytest.approx(nll(probs, labels).mean().item())
    assert m["std_brier"] == pytest.approx(brier(probs, labels).std().item())
    assert m["ensemble_nll"] == pytest.approx(ensemble_metrics(probs, labels)["ensemble_nll"])


def test_one_network():
    m = uncertainty_metrics(torch.softmax(torch.randn(1, 10, 3), -1), torch.randint(0, 3, (10,)))
    assert m["std_nll"] == 0.0 and m["disagreement"] == 0.0 and m["mean_ece"] == m["ensemble_ece"]

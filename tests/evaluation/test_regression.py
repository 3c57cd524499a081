import math

import torch

from hyperzoo.evaluation import regression_metrics


def test_metrics_equal_a_naive_computation():
    g = torch.Generator().manual_seed(0)
    preds = torch.randn(5, 7, generator=g, dtype=torch.float64)
    y = torch.randn(7, generator=g, dtype=torch.float64)
    m = regression_metrics(preds, y)
    rmse = [math.sqrt(sum((preds[i, b].item() - y[b].item()) ** 2 for b in range(7)) / 7) for i in range(5)]
    assert math.isclose(m["mean_rmse"], sum(rmse) / 5, rel_tol=1e-12)
    assert math.isclose(m["max_rmse"], max(rmse), rel_tol=1e-12)
    mean = [sum(preds[i, b].item() for i in range(5)) / 5 for b in range(7)]
    ens = math.sqrt(sum((mean[b] - y[b].item()) ** 2 for b in range(7)) / 7)
    assert math.isclose(m["ensemble_rmse"], ens, rel_tol=1e-12)
    var = [sum((preds[i, b].item() - mean[b]) ** 2 for i in range(5)) / 4 for b in range(7)]
    nll = sum(0.5 * math.log(2 * math.pi * v) + (y[b].item() - mean[b]) ** 2 / (2 * v)
              for b, v in enumerate(var)) / 7
    assert math.isclose(m["ensemble_gaussian_nll"], nll, rel_tol=1e-10)
    assert math.isclose(m["mean_predictive_std"], sum(math.sqrt(v) for v in var) / 7, rel_tol=1e-12)


def test_one_network_has_no_spread():
    m = regression_metrics(torch.ones(1, 3), torch.zeros(3))
    assert m["mean_rmse"] == m["ensemble_rmse"] == 1.0 and "ensemble_gaussian_nll" not in m


def test_networks_that_agree_exactly_have_no_spread_and_an_infinite_nll():
    """A floor of 1e-12 on the variance reported a spread of 1e-6 and an NLL of 10^12 nats."""
    from hyperzoo.evaluation.regression import gaussian_nll_text

    preds = torch.ones(3, 4, dtype=torch.float64)
    preds[:, 0] = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)  # one example with spread
    m = regression_metrics(preds, torch.zeros(4, dtype=torch.float64))
    assert m["mean_predictive_std"] == 0.25  # (1 + 0 + 0 + 0) / 4
    assert m["ensemble_gaussian_nll"] is None and m["zero_spread_examples"] == 3
    assert gaussian_nll_text(m) == "infinite (the networks agree exactly on 3 examples)"

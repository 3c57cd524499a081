"""experiments/table3_norms.py's variance ratios against a hand computation (the script is ours:
loaded from the repository, not from user files)."""

import pytest

from tests.helpers import load_experiment


def norms(*variances):
    layers = ("conv1", "conv2", "fc1")
    return {"layer_norms": {name: {"mean": 1.0, "var": v} for name, v in zip(layers, variances, strict=True)}}


def test_variance_ratios_match_hand_computation():
    table3 = load_experiment("table3_norms")
    seed = {"value": {"hypergan": {"conv1": [7.0, 2.0], "conv2": [50.0, 10.0], "linear": [20.0, 6.0]},
                      "standard": {"conv1": [27.0, 0.5], "conv2": [160.0, 0.5], "linear": [6.0, 0.06]}}}
    ratios = table3.variance_ratios({"gen": norms(4.0, 10.0, 6.0)}, norms(0.01, 0.05, 0.003), seed)
    assert ratios["gen"]["conv1"] == pytest.approx((400.0, 4.0))
    assert ratios["gen"]["conv2"] == pytest.approx((200.0, 20.0))
    assert ratios["gen"]["fc1"] == pytest.approx((2000.0, 100.0))  # the seed's "linear" is our fc1


def test_a_one_network_run_has_no_ratio_and_a_dash():
    """layer_norms gives None for one network's variance; the script divided by it."""
    table3 = load_experiment("table3_norms")
    seed = {"source": "s",
            "value": {"hypergan": {"conv1": [7.0, 2.0], "conv2": [50.0, 10.0], "linear": [20.0, 6.0]},
                      "standard": {"conv1": [27.0, 0.5], "conv2": [160.0, 0.5], "linear": [6.0, 0.06]}}}
    generated = {"one": {**norms(None, None, None), "n_networks": 1, "mean_accuracy": 0.9, "n_examples": 10}}
    standard = {**norms(0.01, 0.05, 0.003), "n_networks": 5, "run": "r", "mean_accuracy": 0.9,
                "std_accuracy": 0.01, "min_accuracy": 0.88, "n_examples": 10}
    ratios = table3.variance_ratios(generated, standard, seed)
    assert ratios["one"]["conv1"] == (None, 4.0)
    text = table3.markdown({"generated": generated, "standard": standard, "seed": seed,
                            "variance_ratio_generated_over_standard": ratios})
    assert "1.00 (—)" in text and "conv1 —×" in text

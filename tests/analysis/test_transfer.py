import pytest
import torch

from hyperzoo.analysis.transfer import fooled_fraction, transfer, transfer_summary
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet


def setup(n=5):
    torch.manual_seed(0)
    target = TargetNet(DigitsNet(), (1, 8, 8))
    one = {k: torch.randn(1, *s) * 0.5 for k, s in target.param_shapes.items()}
    x = torch.rand(40, 1, 8, 8)
    with torch.no_grad():
        y = target(one, x)[0].argmax(-1)
    y[:10] = (y[:10] + 1) % 10  # the first ten are misclassified: never attacked
    model = lambda v: target(one, v)[0]  # noqa: E731
    copies = {k: v.expand(n, *v.shape[1:]).clone() for k, v in one.items()}
    return target, one, copies, model, x, y


def test_identical_networks_are_fooled_together():
    """A pool of copies of the crafting network: each example fools all of it or none of it."""
    target, _, copies, model, x, y = setup()
    for attack in ("fgsm", "pgd"):
        r = transfer(model, target, copies, x, y, eps=0.05, attack=attack, steps=5)
        assert r["attacked"].tolist() == list(range(10, 40))
        torch.testing.assert_close(r["fraction"], r["fools_crafting"].double())
        assert (r["clean_fraction"] == 0).all()  # correctly classified by every copy
        s = transfer_summary(r)
        assert s["fool_crafting"] == int(r["fools_crafting"].sum()) > 0
        assert s["mean_fraction"] == s["share_fooling_all"] == 1.0 and s["share_fooling_none"] == 0.0


def test_fooled_fraction_counts_networks():
    target, one, _, _, x, y = setup()
    other = {k: torch.zeros_like(v) for k, v in one.items()}  # predicts class 0 everywhere
    pool = {k: torch.cat([one[k], other[k], other[k], one[k]]) for k in one}
    f = fooled_fraction(target, pool, x, y)
    expected = ((y != 0).double() * 2 + (torch.arange(40) < 10).double() * 2) / 4
    torch.testing.assert_close(f, expected)


def test_nothing_classified_right_means_nothing_attacked():
    target, _, copies, model, x, y = setup()
    r = transfer(model, target, copies, x[:10], y[:10], eps=0.05)
    assert r["attacked"].numel() == r["fraction"].numel() == r["fools_crafting"].numel() == 0
    s = transfer_summary(r)
    assert s["attacked"] == s["fool_crafting"] == 0 and s["mean_fraction"] is None  # not measured, not 0%


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two():
    """torch.median gave the lower one: a two-peaked result (examples fool none or all) read 0."""
    r = {"attacked": torch.arange(4), "fools_crafting": torch.ones(4, dtype=torch.bool),
         "fraction": torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
         "clean_fraction": torch.zeros(4, dtype=torch.float64)}
    assert transfer_summary(r)["median_fraction"] == 0.5


def test_transfer_share_fooling_half_or_more_includes_exactly_half():
    """An example fooling exactly half the pool counts (common with an even pool)."""
    r = {"attacked": torch.arange(3), "fools_crafting": torch.ones(3, dtype=torch.bool),
         "fraction": torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64),
         "clean_fraction": torch.zeros(3, dtype=torch.float64)}
    assert transfer_summary(r)["share_fooling_half_or_more"] == pytest.approx(2 / 3)

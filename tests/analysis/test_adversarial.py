import pytest
import torch

from hyperzoo.analysis.adversarial import fgsm, input_range, pgd, random_targets


def linear_model():
    w = torch.tensor([[1.0, -2.0, 0.5, -0.1], [-1.0, 2.0, -0.5, 0.1]], dtype=torch.float64)
    return (lambda x: x @ w.t()), w


def test_fgsm_on_a_linear_model_moves_every_pixel_by_eps_along_the_weight_sign():
    model, w = linear_model()
    x = torch.full((3, 4), 0.5, dtype=torch.float64)
    target = torch.zeros(3, dtype=torch.long)  # raise logit 0 - logit 1, gradient 2·w[0]
    adv = fgsm(model, x, target, eps=0.1)
    torch.testing.assert_close(adv - x, 0.1 * w[0].sign().expand(3, 4))


def test_fgsm_clips_to_the_pixel_range_and_scales_eps_with_it():
    model, w = linear_model()
    x = torch.zeros(1, 4, dtype=torch.float64)
    adv = fgsm(model, x, torch.zeros(1, dtype=torch.long), eps=0.1, lo=0.0, hi=2.0)
    torch.testing.assert_close(adv, (0.2 * w[0].sign()).clamp(min=0)[None])


def test_pgd_stays_in_the_ball_and_beats_fgsm_on_a_nonlinear_model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3))
    x = torch.rand(64, 6)
    target = random_targets(net(x).argmax(-1), 3)
    adv = pgd(net, x, target, eps=0.1, steps=20)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    hit = lambda a: (net(a).argmax(-1) == target).float().mean()  # noqa: E731
    assert hit(adv) >= hit(fgsm(net, x, target, eps=0.1))


def test_random_targets_differ_from_labels():
    y = torch.randint(10, (1000,))
    t = random_targets(y, 10, torch.Generator().manual_seed(0))
    assert (t != y).all() and set(t.tolist()) == set(range(10))


def test_bad_eps():
    model, _ = linear_model()
    with pytest.raises(ValueError, match="eps must be non-negative"):
        fgsm(model, torch.zeros(1, 4), torch.zeros(1, dtype=torch.long), -0.1)


def test_attacks_in_the_inputs_own_range_leave_standardised_inputs_alone_at_eps_zero():
    """Inputs of your own may lie outside [0, 1]: clipping to [0, 1] moved them with eps = 0."""
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)) * 2
    lo, hi = input_range(x)
    assert lo == float(x.min()) < 0 and hi == float(x.max()) > 1
    assert input_range(torch.rand(5, 3) * 0.5 + 0.25) == (0.0, 1.0)  # pixels: the box as before
    model = torch.nn.Linear(4, 3)
    t = torch.zeros(6, dtype=torch.long)
    assert torch.equal(fgsm(model, x, t, 0.0, lo, hi), x)
    assert torch.equal(pgd(model, x, t, 0.0, 3, None, lo, hi), x)
    assert not torch.equal(fgsm(model, x, t, 0.0), x)  # the old default box clips them


def test_pgd_with_a_random_start_escapes_a_flat_point_and_draws_from_its_generator():
    """At a point where the gradient is zero, PGD from x cannot move; from a random start in the
    ball it can, and the start is the generator's, not the global one."""
    def model(x):  # a ReLU with its kink at 0.5: gradient 0 at x = 0.5 - 0.05 and below
        h = torch.relu(x - 0.5).sum(-1, keepdim=True)
        return torch.cat([h, -h], -1)

    x = torch.full((8, 3), 0.45, dtype=torch.float64)
    target = torch.zeros(8, dtype=torch.long)  # raise h: push x above 0.5
    assert torch.equal(pgd(model, x, target, eps=0.1, steps=5), x)
    adv = pgd(model, x, target, eps=0.1, steps=5, random_start=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= 0.1 + 1e-12 and (adv > 0.5).any()
    torch.manual_seed(1)
    again = pgd(model, x, target, eps=0.1, steps=5, random_start=torch.Generator().manual_seed(0))
    assert torch.equal(adv, again)

import math

import pytest
import torch

from hyperzoo import diversity
from hyperzoo.diversity import kl_entropy, nearest_neighbour_distances, nearest_neighbours, output_entropy


@pytest.mark.parametrize("dim", [1, 2, 5])
@pytest.mark.parametrize("metric", ["euclidean", "l1"])
def test_estimator_matches_gaussian_entropy(dim, metric):
    g = torch.Generator().manual_seed(dim)
    sigma = torch.linspace(0.5, 2.0, dim, dtype=torch.float64)
    x = torch.randn(20000, dim, generator=g, dtype=torch.float64) * sigma
    exact = 0.5 * dim * math.log(2 * math.pi * math.e) + sigma.log().sum().item()
    est = kl_entropy(x, metric=metric, constants=True).item()
    assert abs(est - exact) < 0.05 * dim


def test_paper_form_drops_only_constants():
    x = torch.randn(100, 3, dtype=torch.float64)
    full = kl_entropy(x, d=3, constants=True)
    paper = kl_entropy(x, d=3)
    const = -torch.special.digamma(torch.tensor(1.0)) + math.log(4 / 3 * math.pi)
    torch.testing.assert_close(full - paper, const.to(torch.float64))


def test_nearest_neighbour_blocks_agree():
    x = torch.randn(50, 7, dtype=torch.float64)
    torch.testing.assert_close(nearest_neighbour_distances(x, block=7),
                               nearest_neighbour_distances(x, block=1000))
    ref = torch.cdist(x, x).fill_diagonal_(math.inf).amin(1)
    torch.testing.assert_close(nearest_neighbour_distances(x), ref)


def test_duplicates_stay_finite():
    x = torch.randn(4, 3, dtype=torch.float64)
    x = torch.cat([x, x[:1]]).requires_grad_()
    h = kl_entropy(x, d=2)
    h.backward()
    assert torch.isfinite(h) and torch.isfinite(x.grad).all()


def test_gradient_ascent_pushes_nearest_samples_apart():
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [3.0, 3.0], [-3.0, 2.0]],
                     dtype=torch.float64, requires_grad=True)
    kl_entropy(x).backward()
    step = x.detach() + 0.01 * x.grad
    before = (x[0] - x[1]).norm().item()
    assert (step[0] - step[1]).norm().item() > before
    assert x.grad[0, 0] < 0 < x.grad[1, 0]


def test_output_entropy_shape_and_need_of_two():
    out = torch.randn(6, 4, 3, dtype=torch.float64)
    assert output_entropy(out, d=2).shape == ()
    with pytest.raises(ValueError, match="at least 2 samples"):
        kl_entropy(torch.randn(1, 3))


def naive_kl_entropy(x, d, min_distance=1e-10):
    """The former estimator: all pairwise distances (O(N²·D) backward), clamped at the floor."""
    dist = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    dist = dist + torch.diag(torch.full((x.shape[0],), math.inf, dtype=x.dtype))
    eps = dist.amin(1).clamp_min(min_distance)
    return torch.special.digamma(torch.tensor(float(x.shape[0]), dtype=x.dtype)) + d * eps.log().mean()


def test_value_and_gradient_equal_the_pairwise_version_away_from_the_floor():
    x = torch.randn(40, 6, dtype=torch.float64, requires_grad=True)
    h = kl_entropy(x, d=3)
    (g,) = torch.autograd.grad(h, x)
    x2 = x.detach().clone().requires_grad_(True)
    h2 = naive_kl_entropy(x2, 3)
    (g2,) = torch.autograd.grad(h2, x2)
    torch.testing.assert_close(h, h2, rtol=1e-12, atol=0)
    torch.testing.assert_close(g, g2, rtol=1e-9, atol=1e-12)


def test_push_apart_never_vanishes_near_the_floor():
    """Two samples closer than the floor: the clamp gave them zero gradient; the smooth floor
    still pushes them apart (along their difference)."""
    x = torch.randn(5, 3, dtype=torch.float64)
    x[1] = x[0] + 1e-12
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(kl_entropy(x, d=2, min_distance=1e-10), x)
    x2 = x.detach().clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(naive_kl_entropy(x2, 2), x2)
    assert g2[:2].abs().max() == 0  # the clamp: no push at all
    diff = (x[1] - x[0]).detach()
    assert (g[1] @ diff) > 0 and (g[0] @ diff) < 0  # ascent moves them apart


def test_entropy_gradient_is_the_same_on_every_run_with_two_threads():
    """Indexing's backward added rows shared by several samples in a thread-dependent order, so
    two identical 2-thread trainings differed; the gradient must not depend on the run."""
    torch.set_num_threads(2)  # restored by the autouse fixture
    x0 = torch.randn(32, 20_000, generator=torch.Generator().manual_seed(0))
    grads = []
    for _ in range(8):
        x = x0.clone().requires_grad_()
        kl_entropy(x, d=300).backward()
        grads.append(x.grad)
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def test_gram_search_finds_the_direct_searchs_neighbours():
    torch.manual_seed(0)
    x = torch.randn(32, 20018) * 0.05 + 3.0  # far from the origin: the centring matters
    idx, dist = nearest_neighbours(x)
    x64 = x.double()  # the reference: direct differences in float64
    d = torch.cdist(x64, x64, compute_mode="donot_use_mm_for_euclid_dist").fill_diagonal_(math.inf)
    ref_dist, ref_idx = d.min(dim=1)
    assert torch.equal(idx, ref_idx)
    # Closer to it than float32's direct differences come (3e-6 here).
    torch.testing.assert_close(dist.double(), ref_dist, rtol=2e-7, atol=0)


def test_near_duplicates_are_measured_directly(monkeypatch):
    """Rows one and two float32 steps apart in one coordinate: their distances are far below the
    Gram trick's rounding, so those rows (and only those) are measured by direct differences."""
    torch.manual_seed(0)
    x = torch.randn(6, 20018)
    one, two = x[0].clone(), x[0].clone()
    one[7] = torch.nextafter(one[7], torch.tensor(math.inf))
    two[9] = torch.nextafter(torch.nextafter(two[9], torch.tensor(math.inf)), torch.tensor(math.inf))
    x = torch.cat([x, one[None], two[None]])
    redone, direct = [], diversity._direct

    def spy(x, rows, p):
        redone.append(rows.tolist())
        return direct(x, rows, p)

    monkeypatch.setattr(diversity, "_direct", spy)
    idx, dist = nearest_neighbours(x)
    assert redone == [[0, 6, 7]]
    assert idx[0] == 6 and idx[6] == 0 and idx[7] == 0
    assert dist[0] == (x[0] - x[6]).norm() and dist[7] == (x[7] - x[0]).norm()


def test_sample_entropy_of_coinciding_samples_is_minus_infinity_not_the_floor():
    """Duplicates gave d·log(1e-10) (-182 nats at d = 8), a finite number set by the floor."""
    x = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert diversity.sample_entropy(x, 8) == (kl_entropy(x, 8).item(), 0)
    x[3] = x[1]
    assert diversity.sample_entropy(x, 8) == (None, 2)
    x[3] = x[1] + 1e-12  # closer than the floor: a number the floor sets, not the samples
    assert diversity.sample_entropy(x, 8) == (None, 2)


def test_gram_search_redoes_no_rows_of_well_separated_samples_in_later_blocks(monkeypatch):
    """With several blocks, each row's own entry is the one excluded: no row of well-separated
    samples falls back to direct differences (the fallback hid a wrong self-exclusion)."""
    redone = []
    real = diversity._direct
    monkeypatch.setattr(diversity, "_direct",
                        lambda x, rows, p: (redone.append(rows.tolist()), real(x, rows, p))[1])
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    idx, _ = diversity.nearest_neighbours(x, block=7)
    assert redone == []
    ref = torch.cdist(x.double(), x.double()).fill_diagonal_(float("inf")).argmin(1)
    assert torch.equal(idx, ref)

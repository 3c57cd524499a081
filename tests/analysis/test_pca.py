import math

import pytest
import torch

from hyperzoo.analysis.pca import pca


def test_points_on_a_line_have_one_component():
    t = torch.randn(200, 1, dtype=torch.float64)
    direction = torch.tensor([[3.0, -1.0, 2.0, 0.5]], dtype=torch.float64)
    p = pca(t * direction + 7.0, k=3)
    assert p.explained[0].item() == pytest.approx(1.0)
    torch.testing.assert_close(p.components[0].abs(), (direction / direction.norm())[0].abs())
    assert p.scores.shape == (200, 3)


def test_explained_variance_of_independent_axes():
    x = torch.randn(20000, 3, dtype=torch.float64) * torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
    p = pca(x, k=3)
    torch.testing.assert_close(p.explained, torch.tensor([9, 4, 1], dtype=torch.float64) / 14,
                               atol=0.01, rtol=0)


def test_views_cover_a_filter_of_every_layer_every_layer_and_the_network():
    from hyperzoo.analysis.pca import filter_vectors, pca_views
    from hyperzoo.targets import TargetNet
    from hyperzoo.targets.zoo import DigitsNet

    target = TargetNet(DigitsNet(), (1, 8, 8))
    g = torch.Generator().manual_seed(0)
    w = {k: torch.randn(30, *s, generator=g, dtype=torch.float64) for k, s in target.param_shapes.items()}
    spec = target.layers[1]
    # Only filter 0 of the second layer varies, along one line: its filter view has one component.
    t = torch.randn(30, 1, dtype=torch.float64, generator=g)
    w[spec.weight][:, 0] = 1.0 + t.view(30, *[1] * (w[spec.weight].dim() - 2))
    w[spec.bias][:, 0] = 2.0 * t[:, 0]
    v = pca_views(target, w, k=3)
    names = ["conv1", "conv2", "fc1", "fc2"]
    assert list(v["filter"]) == list(v["layer"]) == names
    assert v["filter"]["conv2"].explained[0].item() == pytest.approx(1.0)
    assert v["filter"]["conv1"].explained[0].item() < 0.5
    vec = filter_vectors(target, w, 1)
    assert vec.shape == (30, spec.fan_in + 1) and torch.equal(vec[:, -1], w[spec.bias][:, 0])
    total = sum(math.prod(s) for s in target.param_shapes.values())
    assert v["layer"]["fc2"].scores.shape == (30, 3) and v["network"].components.shape == (3, total)


def test_rows_without_variance_explain_nothing_not_nan():
    """Identical networks (a collapsed generator): 0/0 gave NaN ratios, printed as 'nan'."""
    same = torch.randn(1, 7, dtype=torch.float64).repeat(5, 1)
    p = pca(same, 3)
    assert torch.equal(p.explained, torch.zeros(3, dtype=torch.float64))
    assert p.scores.abs().max() == 0


def test_pca_explained_ratio_is_of_the_total_variance_not_of_the_top_k():
    from hyperzoo.analysis.pca import pca
    h = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float64)
    x = h[:, 1:] * torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)  # centred, orthogonal columns
    p = pca(x, k=2)
    torch.testing.assert_close(p.explained, torch.tensor([9.0, 4.0], dtype=torch.float64) / 14)

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

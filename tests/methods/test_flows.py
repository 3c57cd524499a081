import torch

from hyperzoo.methods.flows import CouplingFlow


def test_a_new_flow_is_the_identity():
    x = torch.randn(5, 4)
    y, ladj = CouplingFlow(4, 3, 8)(x)
    assert torch.equal(y, x) and torch.equal(ladj, torch.zeros(5))


def test_log_determinant_is_that_of_the_jacobian():
    """Change of variables, float64: ladj = log|det ∂y/∂x| from autograd, for trained-like
    (random) conditioners, with a one-feature flow too."""
    for d in (1, 5):
        flow = CouplingFlow(d, 3, 8).double()
        for p in flow.parameters():
            torch.nn.init.normal_(p, std=0.5)
        x = torch.randn(4, d, dtype=torch.float64)
        y, ladj = flow(x)
        for xi, li in zip(x, ladj, strict=True):
            jac = torch.autograd.functional.jacobian(lambda v, f=flow: f(v[None])[0][0], xi)
            torch.testing.assert_close(li, torch.linalg.slogdet(jac)[1])
        # Every feature moves: the orderings alternate, so no feature is only ever a condition.
        assert (y - x).abs().min() > 0


def test_parameter_count_is_the_conditioners():
    d, h = 6, 8  # each coupling: MADE d → h → 2d (shift and log-scale per feature)
    assert sum(p.numel() for p in CouplingFlow(d, 2, h).parameters()) == 2 * (d * h + h + h * 2 * d + 2 * d)
    assert sum(p.numel() for p in CouplingFlow(1, 2, h).parameters()) == 2 * 2
    assert not list(CouplingFlow(d, 0, h).parameters())

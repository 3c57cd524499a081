import torch

from hyperzoo.analysis.paths import path_accuracies
from hyperzoo.methods import LatentMethod, build_method
from hyperzoo.targets import TargetNet
from hyperzoo.targets.zoo import DigitsNet


class LinearGenerator(LatentMethod):
    """G(z) = A z + b: both paths coincide for a linear generator."""

    def __init__(self, target):
        super().__init__(target)
        self.maps = torch.nn.ParameterDict({
            k.replace(".", "_"): torch.nn.Parameter(torch.randn(3, *s) * 0.3)
            for k, s in target.param_shapes.items()})

    def noise(self, n, generator=None):
        return torch.rand(n, 3, generator=generator)

    def generate(self, z):
        return {k: torch.einsum("nz,z...->n...", z, self.maps[k.replace(".", "_")])
                for k in self.target.param_shapes}

    def training_loss(self, x, y, step, generator=None):
        raise NotImplementedError


def test_paths_coincide_for_a_linear_generator():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    x, y = torch.rand(30, 1, 8, 8), torch.randint(10, (30,))
    p = path_accuracies(LinearGenerator(target), x, y, pairs=3, points=5,
                        generator=torch.Generator().manual_seed(0))
    assert p["direct"].shape == (3, 5) and p["t"].shape == (5,)
    torch.testing.assert_close(p["direct"], p["interpolated"])


def test_paths_share_endpoints_for_a_nonlinear_generator():
    target = TargetNet(DigitsNet(), (1, 8, 8))
    method = build_method(target, {"name": "deutsch", "z_dim": 4, "extractor_hidden": [8]}).eval()
    x, y = torch.rand(40, 1, 8, 8), torch.randint(10, (40,))
    p = path_accuracies(method, x, y, pairs=2, points=3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(p["direct"][:, [0, -1]], p["interpolated"][:, [0, -1]])

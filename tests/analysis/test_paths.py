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


def test_path_summary_per_pair_dips_and_their_spread():
    from hyperzoo.analysis.paths import path_summary

    t = torch.linspace(0, 1, 5)
    direct = torch.tensor([[0.9, 0.8, 0.5, 0.8, 0.9], [0.8, 0.7, 0.6, 0.7, 1.0]], dtype=torch.float64)
    interp = torch.tensor([[0.9, 0.9, 0.9, 0.9, 0.9], [0.8, 0.9, 0.8, 0.9, 1.0]], dtype=torch.float64)
    s = path_summary({"t": t, "direct": direct, "interpolated": interp})
    assert s["pairs"] == 2 and s["midpoint_t"] == 0.5
    torch.testing.assert_close(torch.tensor(s["per_pair"]["direct_dip"], dtype=torch.float64),
                               torch.tensor([0.4, 0.3], dtype=torch.float64))
    torch.testing.assert_close(torch.tensor(s["per_pair"]["interpolated_minus_direct"], dtype=torch.float64),
                               torch.tensor([0.4, 0.2], dtype=torch.float64))
    assert abs(s["direct_dip"]["mean"] - 0.35) < 1e-12
    assert abs(s["direct_dip"]["std"] - (0.005 ** 0.5)) < 1e-12  # sample std of 0.4 and 0.3
    assert abs(s["interpolated_dip"]["mean"] - 0.05) < 1e-12


def test_direct_path_of_any_weight_batches_equals_module_calls_on_mixed_weights():
    """Independent check: each point's accuracy from a plain module loaded with w1·t + w2·(1 − t)."""
    from hyperzoo.analysis.paths import direct_path_accuracies

    torch.manual_seed(0)
    module = DigitsNet()
    target = TargetNet(module, (1, 8, 8))
    w1 = {k: torch.randn(2, *s) * 0.3 for k, s in target.param_shapes.items()}
    w2 = {k: torch.randn(2, *s) * 0.3 for k, s in target.param_shapes.items()}
    x, y = torch.rand(50, 1, 8, 8), torch.randint(10, (50,))
    p = direct_path_accuracies(target, w1, w2, x, y, points=4)
    assert p["direct"].shape == (2, 4) and "interpolated" not in p
    for pair in range(2):
        for j, t in enumerate(torch.linspace(0, 1, 4)):
            module.load_state_dict({k: w1[k][pair] * t + w2[k][pair] * (1 - t) for k in w1}, strict=False)
            with torch.no_grad():
                acc = (module(x).argmax(-1) == y).double().mean()
            torch.testing.assert_close(p["direct"][pair, j], acc)
    from hyperzoo.analysis.paths import path_summary

    s = path_summary(p)  # the direct path's numbers alone
    assert set(s["per_pair"]) == {"endpoints", "direct_midpoint", "direct_dip"}


def test_a_batch_norm_paths_statistics_use_the_runs_batch_size():
    """Statistics average per-batch variances: the path's endpoint is the pool's network only
    with the batch size its statistics were estimated with (data.bn_batch)."""
    from torch import nn

    from hyperzoo.analysis.paths import direct_path_accuracies
    from hyperzoo.evaluation import predict_proba
    from hyperzoo.targets import estimate_bn_statistics

    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.BatchNorm1d(12), nn.ReLU(),
                           nn.Linear(12, 10)).eval()  # evaluated on running statistics
    target = TargetNet(module, (1, 8, 8))
    w1, w2 = ({k: torch.randn(3, *s) for k, s in target.param_shapes.items()} for _ in range(2))
    x, y = torch.rand(200, 1, 8, 8) * 10, torch.randint(10, (200,))
    images = torch.rand(40, 1, 8, 8) * torch.arange(1.0, 41.0).view(40, 1, 1, 1)  # batches differ
    p = direct_path_accuracies(target, w1, w2, x, y, points=2, statistics_x=images, bn_batch=8)
    probs = predict_proba(target, estimate_bn_statistics(target, w1, images, batch=8), x)
    torch.testing.assert_close(p["direct"][:, -1], (probs.argmax(-1) == y).double().mean(-1))

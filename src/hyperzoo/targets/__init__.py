"""Target networks: the generic `TargetNet` view and the papers' modules."""

from hyperzoo.targets.registry import BUILTIN, build_target
from hyperzoo.targets.statistics import estimate_bn_statistics
from hyperzoo.targets.target_net import LayerSpec, StatisticsMissing, TargetNet
from hyperzoo.targets.zoo import (
    VGGCIFAR,
    CIFARResNet,
    DeutschMNIST,
    DigitsNet,
    HyperGANCIFAR,
    HyperGANMNIST,
    LeNetCIFAR,
    StaticMNIST,
)

__all__ = ["BUILTIN", "build_target", "LayerSpec", "StatisticsMissing", "TargetNet", "estimate_bn_statistics",
           "DeutschMNIST", "DigitsNet",
           "HyperGANCIFAR", "HyperGANMNIST", "LeNetCIFAR", "StaticMNIST", "VGGCIFAR", "CIFARResNet"]

"""Target networks: the generic `TargetNet` view and the papers' modules."""

from hyperzoo.targets.registry import BUILTIN, build_target
from hyperzoo.targets.target_net import LayerSpec, TargetNet
from hyperzoo.targets.zoo import (
    VGGCIFAR,
    DeutschMNIST,
    DigitsNet,
    HyperGANCIFAR,
    HyperGANMNIST,
    LeNetCIFAR,
    StaticMNIST,
)

__all__ = ["BUILTIN", "build_target", "LayerSpec", "TargetNet", "DeutschMNIST", "DigitsNet",
           "HyperGANCIFAR", "HyperGANMNIST", "LeNetCIFAR", "StaticMNIST", "VGGCIFAR"]

"""Every method is in the tiny settings the torchrun and CUDA tests run."""

from hyperzoo.methods import METHODS
from tests.helpers import TINY_METHODS

# The toy problem's method trains without data, on its own tests' settings (toy.yaml).
OWN_SETTINGS = {"toy_mixture"}


def test_every_method_has_tiny_settings():
    """A method missing from TINY_METHODS silently dropped out of the torchrun and CUDA tests."""
    assert set(METHODS) - OWN_SETTINGS <= set(TINY_METHODS)

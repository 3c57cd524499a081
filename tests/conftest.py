import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _restore_threads():
    """A test (or a config's train.threads) that sets torch's thread count must not leak it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)

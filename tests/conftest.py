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


@pytest.fixture(autouse=True)
def _cpu_unless_asked(request, monkeypatch):
    """The suite runs on the CPU where a GPU is present too: `train.device: auto`, and the
    commands a test starts, see no GPU. tests/test_cuda.py, and a test given ``device="cuda"``
    (tests/test_every_method.py), ask for CUDA by name and keep it."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if request.module.__name__.endswith("test_cuda") or params.get("device") == "cuda":
        return
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")

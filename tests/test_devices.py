"""train.device, draws that do not depend on the device, and CPU checkpoints (CPU only)."""

import math

import pytest
import torch
from safetensors import safe_open

from hyperzoo import devices
from hyperzoo.config import ConfigError
from hyperzoo.methods import build_method
from hyperzoo.runs import read_metrics
from hyperzoo.session import build_session, load_run
from hyperzoo.targets import TargetNet, build_target
from hyperzoo.train import train
from tests.helpers import tiny_config


def test_resolve_device(monkeypatch):
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device("auto").type == "cpu"  # no GPU here (conftest hides any)
    with pytest.raises(ConfigError, match="train.device 'gpu' is not a device"):
        devices.resolve_device("gpu")
    with pytest.raises(ConfigError, match="train.device 'meta' is not supported"):
        devices.resolve_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto").type == "cuda"


def test_cuda_without_cuda_is_one_line():
    with pytest.raises(ConfigError, match="no CUDA device is available here"):
        devices.resolve_device("cuda:0")


def test_draws_are_the_cpu_generators_own():
    g = torch.Generator().manual_seed(3)
    ref = torch.Generator().manual_seed(3)
    torch.testing.assert_close(devices.uniform((4, 5), -1, 1, g, "cpu"),
                               torch.empty(4, 5).uniform_(-1, 1, generator=ref))
    # Box–Muller on the generator's uniforms, two per value, in memory order.
    u = torch.rand(3, 2, generator=ref, dtype=torch.float64)
    torch.testing.assert_close(devices.normal((3,), g, "cpu", torch.float64),
                               (-2 * torch.log1p(-u[:, 0])).sqrt() * torch.cos(2 * math.pi * u[:, 1]))
    torch.testing.assert_close(devices.bernoulli(0.5, (6,), g, "cpu"),
                               torch.bernoulli(torch.full((6,), 0.5), generator=ref))


@pytest.mark.parametrize("name", ["deutsch", "hypergan", "mc_dropout", "mnf", "bhn"])
def test_method_noise_comes_from_the_generator(name):
    target = TargetNet(build_target("digits_net"), (1, 8, 8))
    method = build_method(target, {"name": name}, dataset_size=100)
    a = method.sample(3, generator=torch.Generator().manual_seed(0))
    b = method.sample(3, generator=torch.Generator().manual_seed(0))
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_a_saved_cuda_device_reopens_where_there_is_none_or_fewer(monkeypatch):
    assert devices.reopen_device("auto") == ("auto", None)
    assert devices.reopen_device("cpu") == ("cpu", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    spec, note = devices.reopen_device("cuda:1")
    assert spec == "cpu" and "no CUDA device here, so on the CPU" in note
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert devices.reopen_device("cuda:0") == ("cuda:0", None)
    spec, note = devices.reopen_device("cuda:3")
    assert spec == "cuda" and "1 CUDA device(s) here, so on 'cuda'" in note


def test_a_gpu_run_resumes_on_the_cpu_with_a_note(tmp_path, capsys):
    import yaml

    run = tmp_path / "run"
    train(tiny_config("train.steps=2"), run, argv=["x"], progress=False)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["train"].update(device="cuda", steps=4)  # as if trained on a GPU, then raised
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    capsys.readouterr()
    train(None, run, resume=True, argv=["x"], progress=False)
    assert "no CUDA device here, so on the CPU" in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(run) if "loss" in r][-1] == 4


def test_every_saved_cuda_state_with_its_device_present_is_restored(monkeypatch):
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((device, state)))
    states = {"cuda0": torch.zeros(2, dtype=torch.uint8), "cuda1": torch.ones(2, dtype=torch.uint8)}
    devices.set_cuda_rng_states(states)  # an 8-GPU node's run resumed on one GPU keeps rank 0's
    assert restored == [(0, states["cuda0"])]


def test_the_target_check_probes_on_the_module_device():
    """A user's module already off the CPU (meta stands in for a GPU): the shape check feeds it
    inputs on its own device, not a misleading 'cannot take the inputs' error."""
    from hyperzoo.data import load_dataset
    from hyperzoo.session import check_target

    check_target(build_target("digits_net").to("meta"), "digits_net", load_dataset("digits", "train"))


def test_session_is_built_on_the_device_asked():
    s = build_session(tiny_config("train.device=cpu"))
    assert {p.device.type for p in [*s.method.parameters(), *s.target.module.parameters()]} == {"cpu"}


def test_log_every_keeps_one_row_per_step_and_the_same_values(tmp_path):
    every = train(tiny_config("train.steps=7", "train.log_every=1"), tmp_path / "a", argv=["x"],
                  progress=False)
    batched = train(tiny_config("train.steps=7", "train.log_every=5"), tmp_path / "b", argv=["x"],
                    progress=False)
    assert read_metrics(tmp_path / "a") == read_metrics(tmp_path / "b")
    assert [r["step"] for r in read_metrics(tmp_path / "b")] == list(range(1, 8))
    assert every == batched


def test_checkpoints_hold_cpu_tensors_and_reopen_on_the_cpu(tmp_path):
    train(tiny_config("train.steps=2", "train.device=cpu"), tmp_path, argv=["x"], progress=False)
    with safe_open(str(tmp_path / "checkpoint.safetensors"), "pt") as f:
        assert all(f.get_tensor(k).device.type == "cpu" for k in f.keys())
    s = load_run(tmp_path, device="cpu")
    assert {p.device.type for p in s.method.parameters()} == {"cpu"}


@pytest.mark.parametrize("diversity", ["weights", "outputs"])
def test_bf16_lowers_only_the_target_networks(tmp_path, diversity):
    rows = {}
    for precision in ("fp32", "bf16"):
        config = tiny_config("train.steps=3", f"train.precision={precision}", f"method.diversity={diversity}")
        last = train(config, tmp_path / precision, argv=["x"], progress=False)
        assert torch.isfinite(torch.tensor(last["loss"]))
        rows[precision] = read_metrics(tmp_path / precision)[0]
    # Step 1 draws the same weights in both: the entropy (of their gauge-fixed form, or of their
    # outputs on a probe batch) is computed in float32 either way, the cross-entropy in bf16 or not.
    assert rows["bf16"]["entropy"] == rows["fp32"]["entropy"]
    assert rows["bf16"]["cross_entropy"] != rows["fp32"]["cross_entropy"]
    assert rows["bf16"]["cross_entropy"] == pytest.approx(rows["fp32"]["cross_entropy"], rel=0.01)


def test_bad_precision_and_log_every_are_config_errors():
    with pytest.raises(ConfigError, match="'train.precision' = 'fp8' is not one of 'fp32', 'bf16'"):
        tiny_config("train.precision=fp8")
    with pytest.raises(ConfigError, match="'train.log_every' = 0 must be at least 1"):
        tiny_config("train.log_every=0")


def test_machine_names_the_gpu_a_cuda_device_is_and_only_then(monkeypatch):
    from types import SimpleNamespace

    props = SimpleNamespace(name="NVIDIA Example GPU", major=9, minor=0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    cpu = devices.machine()
    assert devices.machine(torch.device("cpu")) == cpu
    assert devices.machine(torch.device("cuda:0")) == (
        f"{cpu}; GPU NVIDIA Example GPU, compute capability 9.0, CUDA {torch.version.cuda}")


@pytest.mark.parametrize(("cpuinfo", "units"), [
    (["model name\t: X", "flags\t\t: fpu avx512f amx_bf16 amx_tile"], ["AMX"]),
    (["flags\t\t: fpu avx512_bf16"], ["AVX512-BF16"]),
    (["flags\t\t: fpu avx2", "vmx flags\t: ept"], []),  # the note's case
    (["Features\t: fp asimd bf16"], ["BF16"]),  # Arm
    (["Features\t: fp asimd"], []),
    ([], None),  # no /proc/cpuinfo
])
def test_bf16_units_are_read_from_the_cpu_flags(monkeypatch, cpuinfo, units):
    monkeypatch.setattr(devices, "_cpuinfo", lambda: cpuinfo)
    assert devices.bf16_units() == units

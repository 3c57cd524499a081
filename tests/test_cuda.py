"""The CUDA paths: skipped, with the reason shown, where no GPU is present (``pytest -rs``).

HYPERZOO_TEST_DEVICE=cpu runs the same tests on the CPU (to check the tests themselves)."""

import os

import pytest
import torch

from hyperzoo.config import load_config
from hyperzoo.runs import read_metrics
from hyperzoo.session import load_run, sample_networks
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run
from tests.helpers import TINY_METHODS, method_overrides, record_output_dtypes, tiny_config

DEVICE = os.environ.get("HYPERZOO_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                reason="no CUDA device on this machine")


@pytest.fixture
def no_tf32():
    """Full float32 convolutions and matmuls: on Ampere and later cuDNN's default TF32 (a 10-bit
    mantissa) moved outputs by about 1e-3 relative (a probe rounding to TF32), beyond a
    comparison with the CPU at 1e-4."""
    kept = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = kept


@pytest.mark.parametrize("method", [m for m in TINY_METHODS if m != "deutsch_relaxed"])
def test_resume_equals_uninterrupted(tmp_path, method):
    # A constant learning rate: a cosine schedule over 4 steps is another run than over 6.
    extra = ["method.pretrain_steps=2"] if method == "hypergan" else []
    for name, steps in (("a", 6), ("b", 4)):
        train(load_config(None, [*method_overrides(method), *extra, f"train.steps={steps}",
                                 f"train.device={DEVICE}", "train.lr_schedule=constant"]),
              tmp_path / name, argv=["x"], progress=False)
    cfg = (tmp_path / "b" / "config.yaml").read_text().replace("steps: 4", "steps: 6")
    (tmp_path / "b" / "config.yaml").write_text(cfg)
    train(None, tmp_path / "b", resume=True, argv=["x"], progress=False)
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["loss"] for r in a] == pytest.approx([r["loss"] for r in b], rel=1e-5)


def test_the_device_kinds_draw_the_same_networks(tmp_path, no_tf32):
    train(tiny_config("train.steps=2", f"train.device={DEVICE}"), tmp_path, argv=["x"], progress=False)
    here, cpu = load_run(tmp_path, device=DEVICE), load_run(tmp_path, device="cpu")
    a, b = sample_networks(here, 4, 7), sample_networks(cpu, 4, 7)
    for k in b:
        torch.testing.assert_close(a[k].cpu(), b[k], rtol=1e-4, atol=1e-5)


def test_bf16_trains(tmp_path):
    last = train(tiny_config("train.steps=3", "train.precision=bf16", f"train.device={DEVICE}"), tmp_path,
                 argv=["x"], progress=False)
    assert torch.isfinite(torch.tensor(last["loss"]))


@pytest.mark.parametrize("name", ["deutsch_mnist", "resnet_cifar"])
def test_bf16_reaches_every_layer_on_the_batched_path(name):
    """On a GPU `auto` runs vmap, where autocast alone left convolutions in float32."""
    from hyperzoo.targets import TargetNet, build_target

    module = build_target(name).to(DEVICE).train()
    target = TargetNet(module, module.input_shape, backend="vmap")
    layers = {s.name for s in target.layers}
    seen = record_output_dtypes(module, layers)
    torch.manual_seed(0)
    weights = {k: (torch.randn(3, *s) * 0.1).to(DEVICE) for k, s in target.param_shapes.items()}
    x = torch.randn(4, *module.input_shape, device=DEVICE)
    full = target(weights, x)
    with target.lower_precision(torch.bfloat16):
        low = target(weights, x)
    assert seen.keys() == layers and set(seen.values()) == {torch.bfloat16}
    assert low.dtype == torch.float32 and not torch.equal(low, full)
    torch.testing.assert_close(low, full, atol=0.05 * full.abs().max().item(), rtol=0)


@pytest.mark.parametrize("backend", ["vmap", "loop"])
def test_a_standardised_target_on_the_device_computes_the_cpus_function(backend, no_tf32):
    """Its constants are buffers that follow the module to the device."""
    from hyperzoo.targets import TargetNet, build_target

    module = build_target("lenet_cifar", {"standardize": True})
    cpu = TargetNet(module, module.input_shape, backend=backend)
    torch.manual_seed(0)
    weights = {k: torch.randn(2, *s) * 0.1 for k, s in cpu.param_shapes.items()}
    x = torch.rand(3, *module.input_shape)
    expected = cpu(weights, x)
    module.to(DEVICE)
    on_device = TargetNet(module, module.input_shape, backend=backend)
    got = on_device({k: w.to(DEVICE) for k, w in weights.items()}, x.to(DEVICE))
    torch.testing.assert_close(got.cpu(), expected, atol=1e-4, rtol=1e-4)


def test_report_and_ood_of_a_run_on_the_device(tmp_path):
    import numpy as np

    from hyperzoo.report import make_report
    from hyperzoo.workflows import ood_run
    from tests.test_workflows import write_idx_folder

    train(tiny_config("train.steps=3", f"train.device={DEVICE}"), tmp_path / "a", argv=["x"], progress=False)
    noise = np.random.default_rng(0).integers(0, 256, (80, 8, 8))
    write_idx_folder(tmp_path / "data" / "notmnist-small", noise)
    rep = make_report(tmp_path / "a", tmp_path / "report", pool=12, limit=60, adv_limit=20, path_limit=30,
                      ood="notmnist", data_dir=str(tmp_path / "data"), detection_sizes=[2, 4],
                      progress=False)
    assert rep["figures"]
    r = ood_run(tmp_path / "a", "notmnist", n_networks=4, data_dir=str(tmp_path / "data"), progress=False)
    assert r["n_networks"] == 4


@pytest.mark.parametrize("name", TINY_METHODS)
def test_every_method_starts_from_the_same_values_on_every_device(name):
    """Built on the CPU, then moved: the gauge check and the baselines' fresh networks must not
    draw on (or feed CPU inputs to) the device."""
    from hyperzoo.session import build_session

    on = {d: build_session(load_config(None, [*method_overrides(name), f"train.device={d}"])).method
          for d in ("cpu", DEVICE)}
    cpu, dev = on["cpu"].state_dict(), on[DEVICE].state_dict()
    assert cpu.keys() == dev.keys()
    for k in cpu:
        assert torch.equal(cpu[k], dev[k].cpu()), k


def test_the_toy_problem_runs_where_a_gpu_is(tmp_path):
    from hyperzoo.toy import run_toy

    summary = run_toy(tmp_path / "toy", steps=20, progress=False, argv=["x"])
    assert (tmp_path / "toy" / "toy.png").is_file() and summary


def test_the_api_takes_a_module_and_data_on_the_device(tmp_path):
    import hyperzoo
    from hyperzoo.targets import build_target
    from tests.test_api import digits

    x, y = digits("train")
    module = build_target("digits_net").to(DEVICE)
    run = hyperzoo.fit(module, (x[:200].to(DEVICE), y[:200].to(DEVICE)),
                       out=tmp_path / "run", progress=False, train={"steps": 2, "device": DEVICE})
    xt, yt = digits("test")
    m = run.evaluate(xt[:50].to(DEVICE), yt[:50].to(DEVICE), networks=3)
    assert m["n_examples"] == 50 and 0 <= m["mean_accuracy"] <= 1
    from hyperzoo.data import Dataset  # a Dataset of tensors on the GPU met CPU predictions

    held = Dataset(xt[:50].to(DEVICE), yt[:50].to(DEVICE), "digits", "test", 10)
    assert run.evaluate(held, networks=3)["mean_accuracy"] == m["mean_accuracy"]


def test_draws_and_batches_reach_the_device_unchanged():
    """`to_device` copies through a fresh pinned buffer on a GPU (a queued copy): the values
    arrive, for a whole tensor and a strided view (a batch share under torchrun), even when the
    GPU is busy and the source changes right after the call."""
    from hyperzoo.devices import to_device

    whole = torch.arange(12.0).reshape(3, 4)
    view = whole[:, 1:]
    want = [whole.clone(), view.clone()]
    if DEVICE == "cuda":
        torch.cuda._sleep(10**8)  # queued work the copies must wait behind
    got = [to_device(whole, DEVICE), to_device(view, DEVICE)]
    if DEVICE == "cuda":
        whole.zero_()  # (on the CPU the "copy" is the tensor itself)
    assert all(torch.equal(g.cpu(), w) for g, w in zip(got, want, strict=True))


def test_relu_activity_on_the_device_equals_the_cpus():
    from hyperzoo.diagnostics import activity
    from hyperzoo.targets import DigitsNet, TargetNet

    target = TargetNet(DigitsNet(), (1, 8, 8))
    gen = torch.Generator().manual_seed(0)
    w = {k: 0.5 * torch.randn(3, *s, generator=gen) for k, s in target.param_shapes.items()}
    x = torch.rand(16, 1, 8, 8, generator=gen)
    on_cpu = activity(target, w, x)
    target.module.to(DEVICE)
    on_device = activity(target, {k: v.to(DEVICE) for k, v in w.items()}, x)
    assert on_device.keys() == on_cpu.keys() and on_device == pytest.approx(on_cpu, abs=1e-3)


def test_a_batch_norm_target_trains_evaluates_and_exports_on_the_device(tmp_path):
    """Per-network statistics under vmap on the device, then evaluate, sample and Polyak."""
    from hyperzoo.workflows import export_networks, polyak_run

    resnet = ["target.name=resnet_cifar", "target.kwargs={depth: 8, widths: [4, 6, 8], in_channels: 1}",
              "data.bn_examples=64", "data.bn_batch=32"]
    train(tiny_config(*resnet, "train.steps=2", f"train.device={DEVICE}"), tmp_path / "run", argv=["x"],
          progress=False)
    m = evaluate_run(tmp_path / "run", 3, split="val", progress=False)
    assert 0 <= m["mean_accuracy"] <= 1
    export_networks(tmp_path / "run", 2, tmp_path / "nets")
    assert len(list((tmp_path / "nets").glob("*.safetensors"))) == 2
    p = polyak_run(tmp_path / "run", k=2, split="val")
    assert 0 <= p["polyak_accuracy"] <= 1


def test_noise_tuning_and_the_toy_regression_run_on_the_device(tmp_path):
    from hyperzoo.noise_tuning import tune_noise_scale
    from hyperzoo.toy_regression import run_toy_regression

    train(load_config(None, [*method_overrides("gaussian_noise"), "train.steps=2", f"train.device={DEVICE}"]),
          tmp_path / "noise", argv=["x"], progress=False)
    tuned = tune_noise_scale(tmp_path / "noise", sigmas=[0.01, 0.1], networks=2)
    assert tuned
    run_toy_regression(tmp_path / "toy", steps=5, networks=10, progress=False, argv=["x"])
    assert (tmp_path / "toy" / "regression.png").is_file()


# torch's own: inductor's imports warn of its deprecated torch.jit.script_method, dynamo's tracing
# reads a non-leaf tensor's .grad (a UserWarning)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf:UserWarning")
def test_a_compiled_run_trains_on_the_device(tmp_path):
    """train.compile: never run on a GPU before (dynamo breaks at the CPU generators' draws).
    Last in this file: compiling takes 40 s on the CPU, and bench/gpu_session.sh cuts the file
    at 120 s."""
    last = train(tiny_config("train.steps=3", "train.compile=true", f"train.device={DEVICE}"), tmp_path,
                 argv=["x"], progress=False)
    assert torch.isfinite(torch.tensor(last["loss"]))

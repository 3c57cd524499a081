"""Two processes under torchrun (gloo, CPU) train the same global batch as one process."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hyperzoo import distributed
from hyperzoo.config import ConfigError, load_config
from hyperzoo.runs import CHECKPOINT, checkpoint_meta, checkpoint_step, read_metrics
from hyperzoo.train import train
from tests.distributed_worker import first_step
from tests.helpers import SPLIT_CASES, TINY, TINY_METHODS, method_overrides, tiny_config

ROOT = Path(__file__).resolve().parents[1]
def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    # torchrun keeps a torchelastic_* log folder in the temporary directory after it exits: one
    # of its own per call, removed with it (the suite left about 50 in /tmp per run).
    with tempfile.TemporaryDirectory(prefix="hz-torchrun-") as tmp:
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1",
               "TMPDIR": tmp}
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               f"--nproc_per_node={nproc}", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)


def test_one_process_world_is_a_no_op():
    world, device = distributed.init(torch.device("cpu"))
    assert (world.rank, world.size, world.main, device.type) == (0, 1, True, "cpu")
    assert distributed.image_share(world, 8) == slice(0, 8)


def test_a_local_rank_without_its_gpu_is_one_line(monkeypatch):
    # torchrun --nproc_per_node=2 on a one-GPU machine: refused before joining any group.
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="local rank 1, but this process sees 1 CUDA device"):
        distributed.init(torch.device("cuda"))


def test_images_must_split_evenly():
    with pytest.raises(ConfigError, match="images_per_noise=7 must be a multiple of the 2 processes"):
        distributed.image_share(distributed.World(0, 2), 7)
    assert distributed.image_share(distributed.World(1, 2), 8) == slice(4, 8)


@pytest.fixture(scope="module")
def two_process_first_steps(tmp_path_factory):
    """Every method's first step under 2 processes: one torchrun for all of them."""
    path = tmp_path_factory.mktemp("ddp") / "steps.pt"
    r = torchrun(str(ROOT / "tests" / "distributed_worker.py"), str(path), *TINY_METHODS, *SPLIT_CASES)
    assert r.returncode == 0, r.stderr[-3000:]
    return torch.load(path)


@pytest.mark.parametrize("name", [*TINY_METHODS, *SPLIT_CASES])
def test_two_process_gradients_equal_one_process(two_process_first_steps, name):
    two = two_process_first_steps[name]
    grads, loss = first_step(method_overrides(name), distributed.World(), torch.device("cpu"))
    assert two["grads"].keys() == grads.keys() and grads
    assert two["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-6)
    for k, g in grads.items():
        torch.testing.assert_close(two["grads"][k], g, rtol=1e-4, atol=1e-6 * g.abs().max().item() + 1e-8,
                                   msg=k)


def test_two_process_training_matches_one_process_and_resumes(tmp_path):
    # A constant learning rate: the 4-step run continued to 6 is then the 6-step run.
    overrides = ["train.steps=6", "train.val_every=6", "train.threads=1", "train.log_every=4",
                 "train.lr_schedule=constant"]
    one = train(tiny_config(*overrides), tmp_path / "one", argv=["x"], progress=False)
    sets = [a for o in [*TINY, *overrides, "train.steps=4"] for a in ("--set", o)]
    r = torchrun("-m", "hyperzoo", "train", "--out", str(tmp_path / "two"), "--quiet", *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    assert checkpoint_step(tmp_path / "two") == 4
    # Continue the 2-process run to the same 6 steps, under torchrun again.
    config = (tmp_path / "two" / "config.yaml").read_text().replace("steps: 4", "steps: 6")
    (tmp_path / "two" / "config.yaml").write_text(config)
    r = torchrun("-m", "hyperzoo", "train", "--resume", str(tmp_path / "two"), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    rows_one, rows_two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    assert [r["step"] for r in rows_two] == list(range(1, 7))
    for a, b in zip(rows_one, rows_two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5), (a, b)
        assert b["accuracy"] == pytest.approx(a["accuracy"], abs=1e-6)
    assert abs(rows_two[-1]["val_mean_accuracy"] - one["val_mean_accuracy"]) <= 0.05
    lines = (tmp_path / "two" / "command.txt").read_text().splitlines()
    # Each command under its process count (a batch-norm or dropout target's result depends on it).
    commands = [i for i, line in enumerate(lines) if not line.startswith("#")]
    assert len(commands) == 2 and "--resume" in lines[commands[1]]
    assert all(lines[i - 1] == "# under torchrun, 2 processes:" for i in commands)
    ones, twos = (load_file(str(tmp_path / run / CHECKPOINT)) for run in ("one", "two"))
    for k in (k for k in ones if k.startswith("model.")):
        torch.testing.assert_close(twos[k], ones[k], rtol=1e-4, atol=1e-6, msg=k)
    assert json.loads((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 6


@pytest.mark.parametrize("name", ["hypergan", "mc_dropout", "static"])
def test_two_process_weights_after_training_equal_one_process(tmp_path, name):
    """The trainer's own steps (not the worker's copy of one): HyperGAN's two optimizers and its
    discriminator step, MC dropout's masks from the trainer's generator, the static
    hypernetwork's seeded draws: every parameter and optimizer state after 3 steps."""
    overrides = [*method_overrides(name), "train.steps=3", "train.val_every=100", "train.threads=1",
                 "train.checkpoint_every=3", "train.lr_schedule=constant"]
    train(load_config(None, overrides), tmp_path / "one", argv=["x"], progress=False)
    r = torchrun("-m", "hyperzoo", "train", "--out", str(tmp_path / "two"), "--quiet",
                 *[a for o in overrides for a in ("--set", o)])
    assert r.returncode == 0, r.stderr[-3000:]
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == len(set(notes)), notes  # said by rank 0 alone
    one, two = load_file(str(tmp_path / "one" / CHECKPOINT)), load_file(str(tmp_path / "two" / CHECKPOINT))
    weights = [k for k in one if k.startswith(("model.", "optim."))]
    assert weights and set(weights) <= two.keys()
    for k in weights:
        if one[k].is_floating_point():
            scale = one[k].abs().max().item()
            torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-6 * scale + 1e-9, msg=k)
        else:
            assert torch.equal(two[k], one[k]), k


def test_dropout_masks_differ_between_processes_and_resume_exactly(tmp_path):
    """A target's dropout draws from torch's global RNG: each process has its own stream, and
    the checkpoint keeps every process's, so a resumed run under torchrun is the uninterrupted one."""
    extra = [*TINY, "target.name=tests.helpers:DropoutNet", "train.lr_schedule=constant",
             "train.threads=1", "train.checkpoint_every=3", "train.val_every=100"]
    for name, steps in (("full", 6), ("part", 3)):
        sets = [a for o in [*extra, f"train.steps={steps}"] for a in ("--set", o)]
        r = torchrun("-m", "hyperzoo", "train", "--out", str(tmp_path / name), "--quiet", *sets)
        assert r.returncode == 0, r.stderr[-3000:]
    part = tmp_path / "part"
    (part / "config.yaml").write_text((part / "config.yaml").read_text().replace("steps: 3", "steps: 6"))
    r = torchrun("-m", "hyperzoo", "train", "--resume", str(part), "--trust-code", "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training process" not in r.stderr  # the same two processes: no note
    full, resumed = load_file(str(tmp_path / "full" / CHECKPOINT)), load_file(str(part / CHECKPOINT))
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    assert not torch.equal(full["rng.rank1.torch_global"], full["rng.torch_global"])
    assert checkpoint_meta(part)["processes"] == 2


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the threads from Linux's /proc")
def test_training_leaves_no_gloo_threads_behind(tmp_path):
    """A gloo worker thread alive at interpreter shutdown aborted a finished run now and then."""
    r = torchrun(str(ROOT / "tests" / "distributed_teardown.py"), str(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    for rank in (0, 1):
        threads = (tmp_path / f"threads.rank{rank}").read_text().split()
        assert threads and not [t for t in threads if "gloo" in t], threads


def test_a_refused_folder_stops_every_process(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    sets = [a for o in [*TINY, "train.steps=2"] for a in ("--set", o)]
    r = torchrun("-m", "hyperzoo", "train", "--out", str(tmp_path / "taken"), "--quiet", *sets)
    assert r.returncode != 0
    # Rank 0's reason always (rank 1 waits before it stops: exiting first, it had the launcher
    # stop rank 0 before its message); rank 1 learnt it from rank 0, not by waiting for ever.
    assert "is not empty and not a hyperzoo run folder" in r.stderr + r.stdout
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


def test_a_locked_folder_stops_every_process(tmp_path):
    from hyperzoo.runs import lock_run

    run = tmp_path / "run"
    train(tiny_config("train.steps=2"), run, argv=["x"], progress=False)
    with lock_run(run):  # another process trains it
        r = torchrun("-m", "hyperzoo", "train", "--resume", str(run), "--quiet")
    assert r.returncode != 0
    assert "is being trained by another process" in r.stderr + r.stdout  # rank 0's reason, always
    assert checkpoint_step(run) == 2


def test_a_batch_norm_target_is_noted_and_fit_is_refused(tmp_path):
    """Under torchrun a target's batch norm sees a process's share of each network's images
    (said on stderr, and the run trains); hyperzoo.fit, whose every process would write the
    folder, refuses in one line."""
    sets = [a for o in [*TINY, "target.name=tests.helpers:NormNet", "train.steps=1", "train.threads=1"]
            for a in ("--set", o)]
    r = torchrun("-m", "hyperzoo", "train", "--out", str(tmp_path / "bn"), "--quiet", *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("note: under torchrun the target's batch norm normalises each process's 4 "
                          "images of a network, not all 8") == 1  # rank 0 alone
    script = tmp_path / "fit.py"
    script.write_text("import hyperzoo\nfrom hyperzoo.data import load_dataset\n"
                      "d = load_dataset('digits', 'train')\n"
                      f"hyperzoo.fit('digits_net', (d.x, d.y), out={str(tmp_path / 'fit')!r})\n")
    r = torchrun(str(script))
    assert r.returncode != 0 and "hyperzoo.fit trains in one process; under torchrun" in r.stderr
    assert not (tmp_path / "fit").exists()

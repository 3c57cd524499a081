"""hyperzoo.fit / load / Run: the CLI's workflow from Python, on in-memory modules and data."""

import functools
import shutil
import tempfile

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

import hyperzoo
from hyperzoo.config import ConfigError
from hyperzoo.data import DataError, load_dataset
from hyperzoo.runs import RunError

FAST = {"steps": 4, "threads": 1, "noise_batch": 4, "images_per_noise": 8, "val_every": 4,
        "val_networks": 3, "checkpoint_every": 4}
TINY_METHOD = {"z_dim": 8, "code_size": 4, "extractor_hidden": [16], "generator_hidden": [16]}


class Net(nn.Module):
    """Importable by name (tests.test_api:Net); its width is read back as a kwarg."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.width, self.classes = width, classes
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, classes))

    def forward(self, x):
        return self.body(x)


class Scaled(Net):
    """Importable, but one argument is kept under another name (self.g = gain) and one as a
    plain tensor: rebuilt from the arguments read back, it would be another function."""

    def __init__(self, width: int = 16, gain: float = 1.0, temperature: float = 1.0):
        super().__init__(width)
        self.g, self.t = gain, torch.tensor(temperature)

    def forward(self, x):
        return self.g * self.body(x) / self.t


def digits(split):
    d = load_dataset("digits", split)
    return d.x, d.y


def test_fit_records_an_importable_module_and_saves_small_data(tmp_path):
    run = hyperzoo.fit(Net(width=12), digits("train"), out=tmp_path / "run", test_data=digits("test"),
                       name="mydigits", train=FAST, method=TINY_METHOD, progress=False)
    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert cfg["target"]["name"] == "tests.test_api:Net" and cfg["target"]["kwargs"]["width"] == 12
    assert cfg["target"]["input_shape"] == [1, 8, 8]
    assert cfg["data"]["dataset"].endswith("mydigits.npz") and not (tmp_path / "run" / "REOPEN.txt").exists()
    w = run.sample(3, seed=1)
    assert w["body.1.weight"].shape == (3, 12, 64)
    # A run folder is data: its import path is not imported without trust_code.
    with pytest.raises(ConfigError, match="pass --trust-code"):
        hyperzoo.load(tmp_path / "run")
    # Reopened from the folder alone: the same networks for the same seed.
    again = hyperzoo.load(tmp_path / "run", trust_code=True)
    assert torch.equal(again.sample(3, seed=1)["body.1.weight"], w["body.1.weight"])
    m = again.evaluate(networks=3)
    assert m["dataset"] == "mydigits" and m["n_examples"] == 300
    assert (tmp_path / "run" / "metrics-test.json").is_file()
    x, y = digits("test")
    given = again.evaluate(x[:50], y[:50], networks=3)  # returned only: nothing written, nothing recorded
    commands = (tmp_path / "run" / "command.txt").read_text().splitlines()
    assert commands[0].startswith("hyperzoo.fit ")
    assert commands[1:] == [f"hyperzoo.Run.evaluate run={tmp_path / 'run'} networks=3 split=test seed=0"]
    probs = again.predict_proba(x[:50], networks=3)
    assert probs.shape == (3, 50, 10)
    assert given["mean_accuracy"] == pytest.approx((probs.argmax(-1) == y[:50]).double().mean().item())
    paths = again.export(2, tmp_path / "nets")
    net = Net(width=12)
    net.load_state_dict(load_file(str(paths[1])))
    r = again.ood(torch.rand(40, 1, 8, 8), ("flipped", x.flip(-1)), networks=3, out=tmp_path / "ood")
    assert list(r["sets"]) == ["outliers1", "flipped"] and r["inliers"] == "mydigits"
    assert (tmp_path / "ood" / "ood.json").is_file()
    assert (tmp_path / "ood" / "command.txt").read_text() == (
        f"hyperzoo.Run.ood run={tmp_path / 'run'} outliers=outliers1,flipped networks=3 inliers=test "
        "limit=None seed=0\n")
    # A torch Dataset of outliers, as the inliers may be (np.asarray of it was a ValueError).
    noise = torch.utils.data.TensorDataset(torch.rand(20, 1, 8, 8), torch.zeros(20, dtype=torch.long))
    assert again.ood(noise, networks=2)["n_outliers"] == 20
    images_only = Items(list(torch.rand(12, 1, 8, 8)))  # no labels: outliers need none
    r = again.ood(("named", noise), ("images", images_only), networks=2)
    assert [r["sets"][k]["n_outliers"] for k in ("named", "images")] == [20, 12]


@pytest.mark.parametrize(("module", "standardize"), [("HyperGANCIFAR", True), ("LeNetCIFAR", False)])
def test_a_flag_that_changes_no_shape_is_recorded_with_the_module(module, standardize):
    """Non-default standardisation adds no parameter, so shapes alone would rebuild the class
    default and a reopened run would see other inputs than the trained one."""
    from hyperzoo import api
    from hyperzoo.config import load_config
    from hyperzoo.targets import zoo

    for classes in (10, 5):  # the default class count too: then every shape is the default's
        cfg = load_config(None, [])
        net = getattr(zoo, module)(num_classes=classes, standardize=standardize)
        assert api._record_module(net, cfg, (3, 32, 32)) is None
        assert cfg.target.name == f"hyperzoo.targets.zoo:{module}"
        assert cfg.target.kwargs == {"num_classes": classes, "standardize": standardize}


def test_fit_from_an_unimportable_module_and_a_torch_dataset(tmp_path):
    class Local(nn.Module):  # defined in a function: a fresh process cannot import it
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    x, y = digits("train")
    data = torch.utils.data.TensorDataset(x, y)  # materialised into memory by fit
    run = hyperzoo.fit(Local(), data, out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                       test_data=torch.utils.data.TensorDataset(*digits("test")), progress=False)
    assert "hyperzoo.load(run_dir, module=" in (tmp_path / "run" / "REOPEN.txt").read_text()
    with pytest.raises(RunError, match="in-memory module"):
        hyperzoo.load(tmp_path / "run")
    again = hyperzoo.load(tmp_path / "run", module=Local())
    assert torch.equal(again.sample(2)["fc.weight"], run.sample(2)["fc.weight"])
    # The report works on the reopened session, though the CLI could not rebuild the module.
    rep = again.report(tmp_path / "report", networks=4, limit=30, adv_limit=10, path_limit=10,
                       detection_sizes=[2], progress=False)
    assert rep["dataset"] == "data" and (tmp_path / "report" / "report.md").is_file()
    assert (tmp_path / "report" / "command.txt").read_text().startswith(
        f"hyperzoo.Run.report run={tmp_path / 'run'} networks=4 limit=30 ")
    from hyperzoo.workflows import evaluate_run

    with pytest.raises(ConfigError, match=r"in-memory module <in-memory .*Local>; reopen it from Python"):
        evaluate_run(tmp_path / "run", 2, progress=False)


def test_fit_errors_are_one_line(tmp_path):
    x, y = digits("train")
    with pytest.raises(ConfigError, match=r"cannot take the inputs of data set 'data' of shape \(1, 8, 8\)"):
        hyperzoo.fit(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (x, y), out=tmp_path / "a",
                     train=FAST, progress=False)
    with pytest.raises(ConfigError, match="has 10 classes"):
        hyperzoo.fit(Net(classes=5), (x, y), out=tmp_path / "b", train=FAST, progress=False)
    with pytest.raises(ConfigError, match="unknown config key 'train.stpes'"):
        hyperzoo.fit(Net(), (x, y), out=tmp_path / "c", train={"stpes": 3})
    with pytest.raises(DataError, match=r"input_shape \(1, 28, 28\) does not match the data's \(1, 8, 8\)"):
        hyperzoo.fit(Net(), (x, y), out=tmp_path / "d", input_shape=(1, 28, 28))
    with pytest.raises(ConfigError, match="target.kwargs .* do not fit target 'tests.test_api:Net'"):
        hyperzoo.fit("tests.test_api:Net", "digits", out=tmp_path / "e", target={"kwargs": {"widht": 3}})


def test_a_refused_fit_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """Without ``out``, fit makes a temporary folder; one for a run that never began held the
    data file (or nothing) under a name the user never saw."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    x, y = digits("train")
    with pytest.raises(DataError, match="does not match the data's"):  # refused with the data
        hyperzoo.fit(Net(), (x, y), input_shape=(1, 28, 28), progress=False)
    with pytest.raises(ConfigError, match="has 10 classes"):  # refused by train, after the data file
        hyperzoo.fit(Net(classes=5), (x, y), train=FAST, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_refused_fit_can_be_retried_into_the_same_folder(tmp_path):
    """fit wrote its data file, then training refused the config: the retry into the same
    folder was refused in turn, blaming fit's own file ("holds 'data.npz'")."""
    x, y = digits("train")
    for out in (tmp_path / "new", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        with pytest.raises(ConfigError, match="has 10 classes"):
            hyperzoo.fit(Net(classes=5), (x, y), out=out, train=FAST, progress=False)
        assert not (out / "data.npz").exists() and out.exists() == (out.name == "empty")
    hyperzoo.fit(Net(), (x, y), out=tmp_path / "empty", train=FAST, method=TINY_METHOD, progress=False)
    assert (tmp_path / "empty" / "data.npz").is_file()


class Typo(nn.Module):
    """A user's bug: forward reads an attribute that does not exist."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fcc(x.flatten(1))


def test_a_fit_stopped_by_a_bug_in_forward_can_be_retried_into_the_same_folder(tmp_path):
    """The bug keeps its traceback; fit's data file and REOPEN.txt (an unimportable module) stayed
    behind and the retry was refused ("holds 'REOPEN.txt'")."""
    x, y = digits("train")
    out = tmp_path / "run"
    with pytest.raises(AttributeError, match="fcc"):
        hyperzoo.fit(Typo(), (x, y), out=out, train=FAST, progress=False)
    assert not out.exists()
    hyperzoo.fit(Net(), (x, y), out=out, train=FAST, method=TINY_METHOD, progress=False)
    assert (out / "data.npz").is_file()


def test_test_data_is_named_in_its_errors_and_its_notes_are_said_once(tmp_path, capsys):
    x, y = digits("train")
    xt, yt = digits("test")
    bad = xt.clone()
    bad[5, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match="^test_data x: inputs must be finite .* example 5"):
        hyperzoo.fit(Net(), (x, y), test_data=(bad, yt), out=tmp_path / "a", train=FAST, progress=False)
    capsys.readouterr()
    hyperzoo.fit(Net(), (x, y), test_data=(xt * 255, yt), out=tmp_path / "b", train=FAST, method=TINY_METHOD,
                 progress=False)
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    # Each said once: by reading fit's data file (fit's own reading of the arrays held its notes).
    assert sum("kept as given" in n for n in notes) == 1
    assert sum("scaled differently" in n for n in notes) == 1


@pytest.mark.parametrize("name", ["../victim", "sub/dir", "", ".hidden", "a\\b"])
def test_the_data_name_is_one_plain_name(tmp_path, name):
    """``name`` names <name>.npz in the run folder: "../victim" overwrote a file of the user's."""
    victim = tmp_path / "victim.npz"
    np.savez(victim, important=np.arange(5))
    with pytest.raises(ConfigError, match="give one plain name"):
        hyperzoo.fit(Net(), digits("train"), out=tmp_path / "run" / "inner", name=name, train=FAST)
    assert np.load(victim)["important"].tolist() == [0, 1, 2, 3, 4] and not (tmp_path / "run").exists()


def test_large_in_memory_data_is_not_copied_and_must_be_given_again(tmp_path, monkeypatch):
    import hyperzoo.api

    monkeypatch.setattr(hyperzoo.api, "DATA_LIMIT_BYTES", 0)
    x, y = digits("train")
    run = hyperzoo.fit(Net(), (x, y), out=tmp_path / "run", name="big", train=FAST, method=TINY_METHOD,
                       progress=False)
    assert not list((tmp_path / "run").glob("*.npz"))
    assert "too large to keep here" in (tmp_path / "run" / "REOPEN.txt").read_text()
    # Once "unknown dataset '<in-memory big>'", which did not say what to give.
    with pytest.raises(DataError, match=r"\(<in-memory big>\) was kept in memory only, .* Run.evaluate"):
        run.evaluate(networks=2)
    xt, yt = digits("test")
    assert hyperzoo.load(tmp_path / "run", trust_code=True).evaluate(xt, yt, networks=2)["n_examples"] == 300


class BNNet(nn.Module):
    """A batch-norm target (tests.test_api:BNNet): its networks need running statistics."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


def test_a_batch_norm_run_whose_data_stayed_in_memory_samples_evaluates_and_reopens(tmp_path, monkeypatch):
    import hyperzoo.api
    import hyperzoo.session

    monkeypatch.setattr(hyperzoo.api, "DATA_LIMIT_BYTES", 0)
    x, y = digits("train")
    xt, yt = digits("test")
    run = hyperzoo.fit(BNNet(), (x, y), out=tmp_path / "run", name="big", train=FAST, method=TINY_METHOD,
                       progress=False)
    passes = []
    monkeypatch.setattr(hyperzoo.session, "estimate_bn_statistics",
                        lambda *a, _real=hyperzoo.session.estimate_bn_statistics, **k: passes.append(1) or
                        _real(*a, **k))
    weights = run.sample(3)
    assert weights["body.2.running_var"].shape == (3, 16)  # statistics from the data fit was given
    # The statistics are kept: predict_proba batch by batch made a pass over the training images
    # per call. Not where the method changed since (its parameters' version counters).
    weights["body.2.running_var"].fill_(float("nan"))  # the caller's copy, not the kept one
    first = run.predict_proba(xt[:5], networks=3)
    assert torch.equal(run.predict_proba(xt[:5], networks=3), first) and first.isfinite().all()
    assert len(passes) == 1
    run.predict_proba(xt[:5], networks=2)
    assert len(passes) == 2
    with torch.no_grad():
        next(run.method.parameters()).mul_(1.0)
    run.predict_proba(xt[:5], networks=2)
    assert len(passes) == 3
    weights = run.sample(3)
    assert run.predict_proba(xt[:5], networks=3).shape == (3, 5, 10)
    assert run.evaluate(xt, yt, networks=3)["n_examples"] == 300
    assert "train_data=(x, y)" in (tmp_path / "run" / "REOPEN.txt").read_text()
    with pytest.raises(RunError, match=r"training data \(<in-memory big>\) was not kept .* "
                                       r"hyperzoo.load\(run_dir, train_data=\(x, y\)\)"):
        hyperzoo.load(tmp_path / "run", trust_code=True).sample(3)
    again = hyperzoo.load(tmp_path / "run", trust_code=True, train_data=(x, y)).sample(3)
    assert all(torch.equal(again[k], weights[k]) for k in weights)  # the same training split
    # Other data gave the networks other statistics, and resumed the run, without a word.
    for other in ((x.flip(0), y.flip(0)), (x, (y + 1) % 10)):
        with pytest.raises(DataError, match=r"train_data is not the data .* trained on \(its SHA-256 is not "
                                            r"config.yaml's data.sha256\)"):
            hyperzoo.load(tmp_path / "run", trust_code=True, train_data=other)
        with pytest.raises(DataError, match="train_data is not the data"):
            hyperzoo.resume(tmp_path / "run", module=BNNet(), train_data=other, progress=False)
    monkeypatch.setattr(hyperzoo.api, "DATA_LIMIT_BYTES", 2**30)
    hyperzoo.fit(Net(), (x, y), out=tmp_path / "small", train=FAST, method=TINY_METHOD, progress=False)
    with pytest.raises(ConfigError, match="train_data is for runs whose data was kept in memory only"):
        hyperzoo.load(tmp_path / "small", trust_code=True, train_data=(x, y))


class SlopeNet(nn.Module):
    """Its argument lives only in a submodule (tests.test_api:SlopeNet): no attribute to read back."""

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LeakyReLU(slope), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


def test_a_module_whose_arguments_cannot_be_read_back_is_not_recorded_as_the_default(tmp_path):
    run = hyperzoo.fit(SlopeNet(0.3), digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                       progress=False)
    assert run.config.target.name == "<in-memory SlopeNet>"  # not tests.test_api:SlopeNet with 0.01
    assert "constructor arguments unknown" in (tmp_path / "run" / "REOPEN.txt").read_text()
    run = hyperzoo.fit(SlopeNet(0.3), digits("train"), out=tmp_path / "given", train=FAST,
                       method=TINY_METHOD, target={"kwargs": {"slope": 0.3}}, progress=False)
    assert run.config.target.name == "tests.test_api:SlopeNet"  # given: rebuilt, compared, recorded


def test_fit_leaves_the_callers_module_as_it_was(tmp_path):
    net = Net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    run = hyperzoo.fit(net, digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                       progress=False)
    assert net.training and run.target.module is not net
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


class SequenceNet(nn.Module):
    """A Conv1d over sequences of 4 channels × 16 steps."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 14, 3))

    def forward(self, x):
        return self.body(x)


def test_inputs_of_the_given_input_shape_are_taken_as_they_are(tmp_path):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(80, 4, 16, generator=gen), torch.randint(0, 3, (80,), generator=gen)
    run = hyperzoo.fit(SequenceNet(), (x, y), out=tmp_path / "run", input_shape=(4, 16), train=FAST,
                       method=TINY_METHOD, progress=False)
    assert run.target.input_shape == (4, 16)
    probs = run.predict_proba(x[:5], networks=2)
    first = {k: v[0] for k, v in run.sample(2).items()}
    expected = torch.func.functional_call(SequenceNet(), first, (x[:5],))
    torch.testing.assert_close(probs[0], expected.softmax(-1))  # not reshaped on the way
    # A file of such sequences without an input_shape key is read as images; the error says so.
    np.savez(tmp_path / "seq.npz", x_test=x.numpy(), y_test=y.numpy())
    with pytest.raises(DataError, match=r"has inputs of shape \(1, 4, 16\) but the run's target takes "
                                        r"\(4, 16\); its examples were read as one-channel images: an "
                                        r".npz of inputs shaped \(4, 16\) says so in an input_shape key$"):
        run.evaluate(tmp_path / "seq.npz", networks=2, progress=False)
    np.savez(tmp_path / "seq.npz", x_test=x.numpy(), y_test=y.numpy(), input_shape=[4, 16])
    assert run.evaluate(tmp_path / "seq.npz", networks=2, progress=False)["n_examples"] == 80
    # Training on them without the shape: the refusal says how to give it (it said only conv1d's).
    with pytest.raises(ConfigError, match=r"read as one-channel images: give inputs shaped \(4, 16\) "
                                          r"with an input_shape key in the .npz, or fit\(..., input_shape"):
        hyperzoo.fit(SequenceNet(), (x, y), out=tmp_path / "guessed", train=FAST, method=TINY_METHOD,
                     progress=False)
    from hyperzoo.data.custom import as_images

    ambiguous = torch.randn(2, 5, 4, 3)  # C=5, H=4, W=3: would be guessed as channels-last
    assert torch.equal(as_images(ambiguous, "x", (5, 4, 3)), ambiguous)
    assert as_images(ambiguous, "x").shape == (2, 3, 5, 4)  # the guess, without a shape


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x.flatten(1))))))


class TwoOutputs(Net):
    def forward(self, x):
        return self.body(x), x


class GainLinear(nn.Linear):
    def __init__(self, *args):
        super().__init__(*args)
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.gain * super().forward(x)


class PlainList(nn.Module):
    """Its hidden layer is in a plain list, so not a submodule: it used to keep its initial weights."""

    def __init__(self):
        super().__init__()
        self.a, self.hidden = nn.Linear(64, 16), [nn.Linear(16, 10)]

    def forward(self, x):
        return self.hidden[0](torch.relu(self.a(x.flatten(1))))


def make_net() -> Net:
    """A factory function as a target name (build_target takes those)."""
    return Net(width=12)


def frozen_net():
    net = Net()
    net.body[1].requires_grad_(False)
    return net


def test_what_a_user_model_or_data_gets_wrong_is_one_line(tmp_path):
    x, y = digits("train")
    cases = [
        (Tied(), (x, y), ConfigError,
         r"parameter 'b.weight' is the same tensor as 'a.weight' \(tied weights\)"),
        (TwoOutputs(), (x, y), ConfigError, r"returns a tuple; its forward must return one tensor"),
        (PlainList(), (x, y), ConfigError,
         r"forward calls a Linear with trainable parameters that is not a registered submodule of PlainList"),
        # A traceback at the first step, after the folder was written.
        (nn.Sequential(nn.Flatten(), GainLinear(64, 10)), (x, y), ConfigError,
         r"layer '1' \(GainLinear\) has a parameter 'gain' besides weight and bias"),
        # Generated anyway: neither frozen nor the user's weights.
        (frozen_net(), (x, y), ConfigError, r"parameter body.1.weight is frozen \(requires_grad=False\)"),
        (nn.Sequential(nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 10)), (x, y), ConfigError,
         "normalisation layer '1' .* does not follow a conv or linear layer"),
        (Net(), (torch.where(torch.arange(len(x))[:, None, None, None] == 7, torch.nan, x), y), DataError,
         "data x: inputs must be finite in float32; example 7 holds NaN or infinity"),
        # Finite in float64, infinite in the float32 training reads: it passed before.
        (Net(), (torch.where(torch.arange(len(x))[:, None, None, None] == 3, 1e39, x.double()), y), DataError,
         r"data x: inputs must be finite in float32; example 3 holds NaN or infinity \(or a value beyond"),
        (Net(), (x[:0], y[:0]), DataError, "data: no examples"),
    ]
    # Pixels 0-255 as floats beside uint8 ones: two scales, without a word.
    with pytest.raises(DataError, match="train_data x is torch.float32 but test_data x is torch.uint8"):
        hyperzoo.fit(Net(), (x * 255, y), out=tmp_path / "scales", test_data=((x * 255).byte(), y),
                     train=FAST, method=TINY_METHOD, progress=False)
    for i, (module, data, error, message) in enumerate(cases):
        with pytest.raises(error, match=message):
            hyperzoo.fit(module, data, out=tmp_path / str(i), train=FAST, method=TINY_METHOD, progress=False)
    run = hyperzoo.fit(Net(classes=5), (x[y < 5], y[y < 5]), out=tmp_path / "five", train=FAST,
                       method=TINY_METHOD, progress=False)
    with pytest.raises(ConfigError, match=r"outputs shape \(5,\) per example but data set 'data' has 10"):
        run.evaluate(*digits("test"), networks=2)
    # Labels 1-5 on a 5-class model: "6 classes (labels 0-5)" said nothing of where the 6th came from.
    with pytest.raises(ConfigError, match=r"no label is 0: if your labels run 1-5, subtract 1"):
        hyperzoo.fit(Net(classes=5), (x[y < 5], y[y < 5] + 1), out=tmp_path / "from1", train=FAST,
                     method=TINY_METHOD, progress=False)


def test_a_refused_fit_notes_nothing_about_the_folder_it_does_not_make(tmp_path, capsys):
    """A frozen parameter was refused after a note on the data file fit had written (and then
    removed): "holds no test split"."""
    module = Net()
    module.body[1].weight.requires_grad_(False)
    with pytest.raises(ConfigError, match="is frozen"):
        hyperzoo.fit(module, digits("train"), out=tmp_path / "r", train=FAST, method=TINY_METHOD,
                     progress=False)
    assert "note:" not in capsys.readouterr().err and not (tmp_path / "r").exists()


class SoftmaxNet(Net):
    """Probabilities out, where hyperzoo takes logits: softmax applied twice."""

    def forward(self, x):
        return torch.softmax(super().forward(x), -1)


def test_a_model_that_outputs_probabilities_is_noted_and_the_expected_shape_named(tmp_path, capsys):
    x, y = digits("train")
    hyperzoo.fit(SoftmaxNet(), (x, y), out=tmp_path / "soft", train=FAST, method=TINY_METHOD, progress=False)
    assert "outputs probabilities (non-negative, summing to 1)" in capsys.readouterr().err
    hyperzoo.fit(Net(), (x, y), out=tmp_path / "logits", train=FAST, method=TINY_METHOD, progress=False)
    assert "probabilities" not in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"10 classes \(labels 0-9\): expected \(10,\), one logit"):
        hyperzoo.fit(Net(classes=3), (x, y), out=tmp_path / "few", train=FAST, method=TINY_METHOD,
                     progress=False)


class Uncopyable(Net):
    """A model holding something deepcopy refuses (a lock, as some wrappers do)."""

    def __init__(self):
        super().__init__()
        import threading

        self.lock = threading.Lock()


def test_a_module_that_cannot_be_copied_is_refused_before_any_folder(tmp_path):
    """The library copies the target (the gauge check, each thread's copy, an ensemble's
    members): such a module failed deep inside training, so fit refuses it at once."""
    with pytest.raises(ConfigError, match=r"^fit needs copies of your Uncopyable, which copy.deepcopy "
                                          r"refuses \(TypeError: cannot pickle '_thread.lock' object\)"):
        hyperzoo.fit(Uncopyable(), digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                     progress=False)
    assert not (tmp_path / "run").exists()


def test_a_run_folder_moved_or_copied_reads_its_own_data_file(tmp_path):
    """fit records its data file by absolute path: a folder moved away, with another run made
    at its old path, scored that run's data (and took its batch-norm statistics from it)."""
    x, y = digits("train")
    tx, ty = digits("test")
    hyperzoo.fit(Net(), (x, y), out=tmp_path / "a", test_data=(tx, ty), train=FAST, method=TINY_METHOD,
                 progress=False)
    shutil.move(tmp_path / "a", tmp_path / "moved")
    hyperzoo.fit(Net(), (x, y), out=tmp_path / "a", test_data=(tx[:20], ty[:20]), train=FAST,
                 method=TINY_METHOD, progress=False)
    moved = hyperzoo.load(tmp_path / "moved", module=Net())
    assert moved.evaluate(networks=2)["n_examples"] == len(ty)


def test_a_data_file_changed_since_training_is_refused(tmp_path):
    x, y = digits("train")
    np.savez(tmp_path / "mine.npz", x_train=x.numpy(), y_train=y.numpy(), x_test=x[:30].numpy(),
             y_test=y[:30].numpy())
    run = hyperzoo.fit(Net(), str(tmp_path / "mine.npz"), out=tmp_path / "run", train=FAST,
                       method=TINY_METHOD, progress=False)
    assert run.evaluate(networks=2)["n_examples"] == 30
    np.savez(tmp_path / "mine.npz", x_train=x.numpy(), y_train=y.numpy(), x_test=x[:10].numpy(),
             y_test=y[:10].numpy())
    with pytest.raises(DataError, match=r"mine.npz is not the data file this run trained on \(its SHA-256"):
        hyperzoo.load(tmp_path / "run", module=Net()).evaluate(networks=2)


def test_a_data_folder_changed_since_training_is_refused(tmp_path):
    """An IDX folder was recorded without a checksum: its labels rewritten, a resume trained on."""
    from tests.data.conftest import idx_bytes

    x, y = digits("train")
    images = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    folder = tmp_path / "mine"
    folder.mkdir()
    for prefix, part in (("train", slice(0, 300)), ("t10k", slice(300, 330))):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images[part]))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(y[part].numpy()))
    run = hyperzoo.fit(Net(), str(folder), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                       progress=False)
    assert len(run.config.data.sha256) == 64
    (folder / "notes.txt").write_text("not data")  # other files may come and go
    assert run.evaluate(networks=2)["n_examples"] == 30
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes((y[300:330].numpy() + 1) % 10))
    with pytest.raises(DataError, match=r"mine is not the data this run trained on \(the SHA-256 of"):
        hyperzoo.load(tmp_path / "run", module=Net()).evaluate(networks=2)


@pytest.mark.parametrize("kwargs", [{"gain": 4.0}, {"temperature": 5.0}])
def test_a_module_rebuilt_otherwise_is_kept_in_memory(tmp_path, kwargs):
    """Recorded as Scaled(width=16), it reopened with gain 1: other predictions, no warning."""
    run = hyperzoo.fit(Scaled(**kwargs), digits("train"), out=tmp_path / "run", train=FAST,
                       method=TINY_METHOD, progress=False)
    assert (tmp_path / "run" / "REOPEN.txt").is_file()
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["target"]["name"]
    assert recorded == "<in-memory Scaled>"
    again = hyperzoo.load(tmp_path / "run", module=Scaled(**kwargs))
    x = digits("test")[0][:8]
    torch.testing.assert_close(again.predict_proba(x, networks=2), run.predict_proba(x, networks=2))
    # The arguments given match the module: recorded by name.
    hyperzoo.fit(Scaled(**kwargs), digits("train"), out=tmp_path / "named", target={"kwargs": kwargs},
                 train=FAST, method=TINY_METHOD, progress=False)
    assert not (tmp_path / "named" / "REOPEN.txt").exists()


class Scaled64(Net):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.full((10,), 2.0, dtype=torch.float64))

    def forward(self, x):
        return self.body(x) * self.scale


def test_a_float64_target_runs_in_float32_and_says_so(tmp_path, capsys):
    """A float64 buffer failed mid-run (mat1 and mat2 must have the same dtype); float64
    parameters became float32 without a word."""
    run = hyperzoo.fit(Scaled64().double(), digits("train"), out=tmp_path / "run", train=FAST,
                       method=TINY_METHOD, progress=False)
    note = "holds float64 parameters or buffers; hyperzoo generates float32 networks"
    assert capsys.readouterr().err.count(note) == 1  # not again when fit reopens the run
    assert run.predict_proba(digits("test")[0][:4], networks=2).dtype == torch.float32
    mine = Scaled64().double()
    hyperzoo.load(tmp_path / "run", module=mine, trust_code=True)
    assert mine.scale.dtype == mine.body[1].weight.dtype == torch.float64  # the user's module, untouched


def script_class() -> type[nn.Module]:
    """A class as a script or notebook defines it: not importable by name."""

    class Local(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    return Local


def test_a_run_reopens_only_with_its_own_class(tmp_path):
    """Any module of the same shapes was accepted, and evaluate wrote its numbers over the run's."""
    Local = script_class()

    class Other(Local):
        def forward(self, x):
            return self.fc(torch.tanh(10 * x.flatten(1)))

    hyperzoo.fit(Local(), digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                 progress=False)
    with pytest.raises(RunError, match="trained a .*Local target; the module given is a .*Other"):
        hyperzoo.load(tmp_path / "run", module=Other())
    hyperzoo.load(tmp_path / "run", module=Local())
    hyperzoo.fit(Net(), digits("train"), out=tmp_path / "named", train=FAST, method=TINY_METHOD,
                 progress=False)
    with pytest.raises(RunError, match="trained a Net target; the module given is a Scaled"):
        hyperzoo.load(tmp_path / "named", module=Scaled())
    # A target named by a factory function, and a built-in name: checked by the class built.
    hyperzoo.fit("tests.test_api:make_net", digits("train"), out=tmp_path / "factory", train=FAST,
                 method=TINY_METHOD, progress=False)
    hyperzoo.load(tmp_path / "factory", module=make_net())
    hyperzoo.fit("digits_net", "digits", out=tmp_path / "builtin", train=FAST, method=TINY_METHOD,
                 progress=False)
    with pytest.raises(RunError, match="trained a DigitsNet target; the module given is a Net"):
        hyperzoo.load(tmp_path / "builtin", module=Net())
    # Reopening does not care whether the module's parameters are frozen; training does.
    hyperzoo.load(tmp_path / "named", module=Net().requires_grad_(False), trust_code=True)


def test_an_interrupted_fit_of_an_in_memory_module_resumes_from_python(tmp_path, capsys):
    """The command line cannot rebuild a class defined in a script: such a run stopped early
    could not be finished, and load reopened it at its last checkpoint without a word."""
    Local = script_class()
    fast = {**FAST, "lr_schedule": "constant"}
    hyperzoo.fit(Local(), digits("train"), out=tmp_path / "full", train={**fast, "steps": 8},
                 method=TINY_METHOD, progress=False)
    hyperzoo.fit(Local(), digits("train"), out=tmp_path / "part", train=fast, method=TINY_METHOD,
                 progress=False)
    # Stopped at step 4 of 8, as an interrupted run would be.
    config = tmp_path / "part" / "config.yaml"
    config.write_text(config.read_text().replace("steps: 4", "steps: 8"))
    hyperzoo.load(tmp_path / "part", module=Local())
    err = capsys.readouterr().err
    assert "stopped at step 4 of 8; finish it with hyperzoo.resume" in err
    assert "hyperzoo train --resume" not in err  # the command line cannot rebuild Local
    with pytest.raises(RunError, match=r"resume it with hyperzoo.resume\(run_dir, module=...\)"):
        hyperzoo.resume(tmp_path / "part")
    run = hyperzoo.resume(tmp_path / "part", module=Local(), progress=False)
    assert run.session.checkpoint_step == 8 and "stopped at step" not in capsys.readouterr().err
    full, part = (load_file(str(tmp_path / d / "checkpoint.safetensors")) for d in ("full", "part"))
    assert full.keys() == part.keys() and all(torch.equal(full[k], part[k]) for k in full)


class WithFunctions(Net):
    """Importable, keeping a partial, a lambda over an argument, an array and a batch norm (whose
    running statistics move): rebuilt from its arguments, the same module."""

    def __init__(self, width: int = 16, gain: float = 1.0):
        super().__init__(width)
        self.act = functools.partial(torch.clamp, min=0.0)
        self.scale = lambda v: v * gain
        self.offsets = np.zeros(3)
        self.norm = nn.BatchNorm1d(10)

    def forward(self, x):
        return self.norm(self.scale(self.act(self.body(x))))


class Gain:
    """A callable object, not a function: no code or closure to compare."""

    def __init__(self, gain: float):
        self.gain = gain

    def __call__(self, v):
        return self.gain * v


class Picked(Net):
    """Importable; its activation is picked by an argument kept nowhere (two lambdas of one
    qualname), and a gain kept in a callable object."""

    def __init__(self, width: int = 16, act: str = "relu", gain: float = 1.0):
        super().__init__(width)
        self.fn = {"relu": lambda v: v.clamp(min=0), "square": lambda v: v * v}[act]
        self.scale = Gain(gain)

    def forward(self, x):
        return self.scale(self.fn(self.body(x)))


@pytest.mark.parametrize("kwargs", [{"act": "square"}, {"gain": 3.0}])
def test_a_module_whose_rebuild_computes_otherwise_is_kept_in_memory(tmp_path, kwargs):
    """Compared by their names and captured values, the two lambdas were one, and any two
    callable objects too: recorded by import path, reopened as another function."""
    hyperzoo.fit(Picked(**kwargs), digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                 progress=False)
    assert (tmp_path / "run" / "REOPEN.txt").is_file()
    hyperzoo.fit(Picked(), digits("train"), out=tmp_path / "same", train=FAST, method=TINY_METHOD,
                 progress=False)
    assert not (tmp_path / "same" / "REOPEN.txt").exists()


class BufferScaled(Net):
    """A persistent buffer its constructor sets to 3."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.tensor(3.0))

    def forward(self, x):
        return super().forward(x) * self.scale


def test_a_buffer_set_after_construction_keeps_the_module_in_memory(tmp_path):
    """The rebuild check copied every buffer into the rebuilt module, so it passed; the run
    folder keeps no buffer, and the reopened run computed with scale 3, not the user's 0.1."""
    net = BufferScaled()
    net.scale.fill_(0.1)
    hyperzoo.fit(net, digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD, progress=False)
    assert (tmp_path / "run" / "REOPEN.txt").is_file()
    hyperzoo.fit(BufferScaled(), digits("train"), out=tmp_path / "same", train=FAST, method=TINY_METHOD,
                 progress=False)
    assert not (tmp_path / "same" / "REOPEN.txt").exists()
    assert not (tmp_path / "same" / "target_fingerprint.json").exists()  # rebuilt by name: nothing to check


def test_an_in_memory_module_reopens_only_where_it_computes_the_same(tmp_path):
    """Reopening took any module of the class: one with the constructor's scale (3, where fit's
    had 0.1) gave other networks' predictions without a word."""
    net = BufferScaled()
    net.scale.fill_(0.1)
    hyperzoo.fit(net, digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD, progress=False)
    assert (tmp_path / "run" / "target_fingerprint.json").is_file()
    with pytest.raises(RunError, match=r"the module given computes otherwise than the one .*run trained "
                                       r"\(its output differs by up to .* with fixed weights\)"):
        hyperzoo.load(tmp_path / "run", module=BufferScaled())
    with pytest.raises(RunError, match="computes otherwise"):
        hyperzoo.resume(tmp_path / "run", module=BufferScaled(), progress=False)
    same = BufferScaled()
    same.scale.fill_(0.1)
    hyperzoo.load(tmp_path / "run", module=same)
    assert same.scale.item() == pytest.approx(0.1)  # the user's module is left as it was


def test_modules_keeping_functions_arrays_and_norms_are_rebuilt_by_name(tmp_path):
    """Compared by identity, a fresh module's lambda or partial made every such module
    in-memory, and the command line could not reopen its runs."""
    net = WithFunctions()
    net(digits("train")[0][:8])  # train mode: the running statistics move
    hyperzoo.fit(net, digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                 progress=False)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["target"]["name"] == "tests.test_api:WithFunctions"
    assert config["target"]["module_class"] == "WithFunctions"
    hyperzoo.fit(WithFunctions(gain=3.0), digits("train"), out=tmp_path / "gain", train=FAST,
                 method=TINY_METHOD, progress=False)
    assert (tmp_path / "gain" / "REOPEN.txt").is_file()  # the lambda captured another gain


def test_a_finished_run_that_kept_its_best_model_is_not_called_stopped(tmp_path, capsys):
    hyperzoo.fit(Net(), digits("train"), out=tmp_path / "run", method=TINY_METHOD, progress=False,
                 train={**FAST, "steps": 8, "keep_best": True})
    capsys.readouterr()
    hyperzoo.load(tmp_path / "run", trust_code=True)
    assert "stopped at step" not in capsys.readouterr().err


def test_the_rebuild_check_leaves_the_module_alone_and_draws_alike():
    """It set every submodule to the top's mode (a frozen batch norm trained again), and a
    forward that samples noise, or an integer buffer registered first, made a rebuildable module
    in-memory."""
    from hyperzoo.api import _computes_the_same

    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", torch.zeros((), dtype=torch.long))
            self.fc, self.bn = nn.Linear(64, 10), nn.BatchNorm1d(10)

        def forward(self, x):
            return self.bn(self.fc(x.flatten(1))) + 0.1 * torch.randn(x.shape[0], 10)

    m = Noisy().train()
    m.bn.eval()
    assert _computes_the_same(Noisy(), m, (1, 8, 8))
    assert m.training and not m.bn.training


def test_fit_and_load_leave_the_callers_random_state_and_threads_alone(tmp_path):
    """Building a session seeded torch's global generator and training set train.threads: a
    user's own draws after hyperzoo.load differed from the same draws without it."""
    torch.set_num_threads(2)  # the fixture gives the suite's count back
    net, data = Net(), digits("train")
    torch.manual_seed(123)
    expected = torch.randn(3)
    torch.manual_seed(123)
    hyperzoo.fit(net, data, out=tmp_path / "run", train=FAST, method=TINY_METHOD, progress=False)
    assert torch.equal(torch.randn(3), expected) and torch.get_num_threads() == 2
    torch.manual_seed(123)
    hyperzoo.load(tmp_path / "run", trust_code=True)
    assert torch.equal(torch.randn(3), expected)


class Items(torch.utils.data.Dataset):
    """A torch Dataset of given (image, label) items."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_a_torch_datasets_items_are_checked_one_by_one():
    """A PIL-like image, a string label and two image sizes failed inside the DataLoader's
    collation, with its traceback; the items that are fine are read as before."""
    from hyperzoo.api import to_dataset

    image = torch.rand(1, 8, 8)
    cases = [([(image, 0), (object(), 1)], r"item 1's image is a object; expected a tensor or array"),
             ([(image, "cat")], r"item 0's label is 'cat'; expected one number"),
             ([(image, 0), (torch.rand(1, 9, 9), 1)],
              r"item 1's image has shape \(1, 9, 9\), item 0's \(1, 8, 8\)"),
             ([(image,)], "must yield \\(image, label\\) pairs; item 0 has 1 parts"),
             ([(image, torch.tensor([1, 2]))], r"item 0's label is tensor\(\[1, 2\]\); expected one number")]
    for items, message in cases:
        with pytest.raises(DataError, match=message):
            to_dataset(Items(items), "mine", "train")
    # A label of one element in a tensor or array of shape (1,), as many datasets give it, too.
    items = [(image, 1), (image.numpy(), np.int64(0)), (image, torch.tensor(2)), (image, torch.tensor([3])),
             (image, np.array([0]))]
    d = to_dataset(Items(items), "mine", "train")
    assert d.x.shape == (5, 1, 8, 8) and d.y.tolist() == [1, 0, 2, 3, 0] and d.num_classes == 4


def test_a_config_fit_cannot_read_is_one_line(tmp_path):
    """A YAML file holding a list, a syntax error and a method that is not a section were
    tracebacks (AttributeError, yaml's ParserError, TypeError)."""
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "bad.yaml").write_text("train: [\n")
    cases = [(tmp_path / "list.yaml", "must hold a mapping of config sections"),
             (tmp_path / "bad.yaml", "is not valid YAML"),
             ({"method": "x"}, "config section 'method' must be a mapping")]
    for config, message in cases:
        with pytest.raises(ConfigError, match=message):
            hyperzoo.fit(Net(), digits("train"), config=config, out=tmp_path / "r", progress=False)


def test_a_network_count_below_one_is_refused(tmp_path):
    """An ensemble's [:n] gave one network for -2; a hypernetwork a reshape's traceback."""
    run = hyperzoo.fit(Net(), digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                       progress=False)
    x = digits("test")[0][:3]
    for call in (lambda: run.sample(0), lambda: run.sample(-2), lambda: run.predict_proba(x, networks=-2)):
        with pytest.raises(ConfigError, match=r"networks \(networks, --networks\) must be at least"):
            call()
    # Inputs of another shape: one line in the user's terms (it named an internal chunk size).
    with pytest.raises(DataError, match=r"x has inputs of shape \(3, 8, 8\) but the run's target takes"):
        run.predict_proba(torch.rand(4, 3, 8, 8))
    with pytest.raises(DataError, match="^x holds no inputs; give at least one$"):
        run.predict_proba(x[:0])


class FrozenAside(nn.Module):
    """A fixed projection kept out of the module tree on purpose, frozen: not generated, allowed."""

    def __init__(self):
        super().__init__()
        self.proj = [nn.Linear(64, 16).requires_grad_(False)]
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(torch.relu(self.proj[0](x.flatten(1))))


def test_a_frozen_layer_kept_out_of_the_module_is_allowed():
    from hyperzoo.targets import TargetNet

    target = TargetNet(FrozenAside(), (1, 8, 8))
    assert list(target.param_shapes) == ["head.weight", "head.bias"]


class ViewFlat(nn.Module):
    """Flattens with x.view(x.size(0), -1), as many models do: no batch of 0 images passes it."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))


def test_the_report_attacks_no_empty_share(tmp_path):
    """A crafting network that classified none of its share right was attacked on 0 images: a
    traceback from the user's view, the figures so far left in the folder."""
    run = hyperzoo.fit(ViewFlat(), digits("train"), out=tmp_path / "run", train={**FAST, "steps": 1},
                       method=TINY_METHOD, test_data=digits("test"), progress=False)
    rep = run.report(tmp_path / "report", networks=12, limit=40, adv_limit=12, path_limit=10, path_pairs=1,
                     detection_sizes=[2], transfer_networks=2, progress=False)
    assert rep["adversarial"]["crafted_on"] == 10


def test_the_fingerprint_takes_nan_lazy_layers_and_training_only_settings(tmp_path):
    """NaN outputs crashed the comparison (atol NaN), a fresh lazy layer could not take the fixed
    weights, and a dropout of another p (acting in training only) was accepted."""
    from hyperzoo import fingerprint

    class Logged(nn.Module):  # log of a linear output: NaN on some inputs
        def __init__(self, p: float = 0.5):
            super().__init__()
            self.fc, self.drop = nn.Linear(64, 10), nn.Dropout(p)

        def forward(self, x):
            return torch.log(self.drop(self.fc(x.flatten(1))) - 1.0)

    class Lazy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.LazyLinear(10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    for trained, again in [(Logged(), Logged()), (Lazy(), Lazy())]:
        trained(torch.zeros(1, 1, 8, 8))  # materialised, as before fit
        assert fingerprint.write(tmp_path, trained, (1, 8, 8)) is not None
        fingerprint.check(tmp_path, again)
    fingerprint.write(tmp_path, Logged(), (1, 8, 8))
    with pytest.raises(RunError, match=r"its output prints otherwise: '\(drop\): Dropout\(p=0.1, inplace="
                                       r"False\)' where the trained one has '\(drop\): Dropout\(p=0.5, .* "
                                       r"remove target_fingerprint.json"):
        fingerprint.check(tmp_path, Logged(p=0.1))


def test_an_unknown_keyword_of_fit_names_what_fit_takes(tmp_path):
    """fit(quiet=True) said "unknown section 'quiet'": it is no section, and progress=False is
    the way to silence it."""
    with pytest.raises(ConfigError, match=r"unexpected keyword argument 'quiet'; .*progress=False"):
        hyperzoo.fit(Net(), digits("train"), out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_method_keys_for_the_default_method_keep_its_default_lambda():
    """fit(method={"z_dim": 100}) trained at λ = 10³ (the method's own default) where the
    default config and `--set method.z_dim=100` keep 3·10³."""
    from hyperzoo.api import _build_config
    from hyperzoo.config import load_config

    cli = load_config(None, ["method.z_dim=100"]).method
    assert _build_config(None, {"method": {"z_dim": 100}}).method == cli
    assert _build_config(None, {"method": {"name": "hypergan"}}).method == {"name": "hypergan"}
    assert "lam" not in _build_config({"method": {"name": "deutsch"}}, {"method": {"z_dim": 8}}).method


def test_a_note_on_the_data_is_said_when_fit_is_refused_after_reading_it(tmp_path, monkeypatch, capsys):
    """Held while fit decided where the data go, and lost when it was then refused: the note was
    marked as said, so no later fit of that process said it either."""
    import hyperzoo.api
    import hyperzoo.data.custom

    monkeypatch.setattr(hyperzoo.api, "DATA_LIMIT_BYTES", 0)  # the branch that keeps the data in memory
    monkeypatch.setattr(hyperzoo.data.custom, "_noted_scale", set())
    x, y = digits("train")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("a user's file")
    with pytest.raises(RunError, match="is not empty"):
        hyperzoo.fit(Net(), (x * 255, y), out=tmp_path / "taken", train=FAST, progress=False)
    assert "kept as given" in capsys.readouterr().err


def test_large_in_memory_data_validates_on_test_data_with_val_split_test(tmp_path, monkeypatch):
    """Kept in memory, the data's validation split ignored data.val_split (with val_fraction 0 it was
    empty: 'nothing to predict' at the first validation, the folder already made)."""
    import hyperzoo.api

    monkeypatch.setattr(hyperzoo.api, "DATA_LIMIT_BYTES", 0)
    x, y = digits("train")
    xt, yt = digits("test")
    run = hyperzoo.fit(Net(), (x, y), test_data=(xt, yt), out=tmp_path / "run", train=FAST,
                       method=TINY_METHOD, data={"val_fraction": 0.0, "val_split": "test"}, progress=False)
    assert len(run.session.train_data) == len(x)
    with pytest.raises(ConfigError, match="val_split 'test' validates on the test split: give test_data"):
        hyperzoo.fit(Net(), (x, y), out=tmp_path / "run2", train=FAST, data={"val_split": "test"},
                     progress=False)
    assert not (tmp_path / "run2").exists()


def test_tune_noise_and_polyak_of_a_module_defined_in_a_script(tmp_path):
    """Both reopened the run themselves, which a module defined in a script cannot be: such a
    Gaussian-noise baseline could never have its σ tuned."""
    class Local(nn.Sequential):
        def __init__(self):
            super().__init__(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    x, y = digits("train")
    run = hyperzoo.fit(Local(), (x, y), test_data=digits("test"), out=tmp_path / "run",
                       method={"name": "gaussian_noise"}, train={**FAST, "noise_batch": 1}, progress=False)
    with pytest.raises(ConfigError, match="in-memory module"):
        from hyperzoo.noise_tuning import tune_noise_scale

        tune_noise_scale(tmp_path / "run", [0.01, 0.1], networks=2)
    record = run.tune_noise([0.0, 0.01, 0.1], networks=2)
    assert record["sigma"] in (0.0, 0.01, 0.1) and float(run.session.method.sigma) == record["sigma"]
    assert hyperzoo.load(tmp_path / "run", module=Local()).session.method.sigma == record["sigma"]
    assert run.polyak(k=1, limit=50)["networks"] == 1
    assert "hyperzoo.Run.tune_noise" in (tmp_path / "run" / "command.txt").read_text()


def test_a_regression_run_of_whole_numbers_says_why_they_are_values(tmp_path):
    """The refusal said the targets 'hold negative or non-integer values': they were 0-9, read as
    values because method.task is regression."""
    x, y = digits("train")
    with pytest.raises(ConfigError, match="whole-number targets are read as real values because method.task"):
        hyperzoo.fit(Net(), (x, y), out=tmp_path / "r", method={"name": "hypergan", "task": "regression"},
                     train=FAST, progress=False)


def test_run_report_takes_the_commands_option_names():
    """Run.report(out, networks=4) raised make_report's TypeError (it took **kwargs as pool=...)."""
    import inspect

    from hyperzoo.cli import report as cli_report

    mine = set(inspect.signature(hyperzoo.Run.report).parameters) - {"self"}
    # threads: Python sets torch's own (torch.set_num_threads).
    theirs = set(inspect.signature(cli_report).parameters) - {"run_dir", "quiet", "threads", "import_path"}
    assert theirs <= mine and "pool" not in mine and "trust_code" in mine  # --compare of imported targets


def test_fits_folder_refusals_name_its_out_argument_not_the_commands_option(tmp_path):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    for folder, message in (("file", r"^out .*file is a file, not a folder$"),
                            ("full", r"^out .*full is not empty and not a hyperzoo run folder")):
        with pytest.raises(RunError, match=message):
            hyperzoo.fit(Net(), digits("train"), out=tmp_path / folder, train=FAST, method=TINY_METHOD,
                         progress=False)


def test_a_fit_refused_by_its_calibration_notes_nothing_either(tmp_path, capsys):
    """The notes came before calibration, which refuses regression targets that are all equal."""
    x = digits("train")[0][:40]
    with pytest.raises(ConfigError, match="all equal"):
        hyperzoo.fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 1)),
                     (x, torch.ones(40)), out=tmp_path / "r", progress=False,
                     method={"name": "hypergan", "task": "regression", "pretrain_steps": 0},
                     train={"steps": 2, "threads": 1, "noise_batch": 2, "images_per_noise": 4, "lr": 1.0})
    assert "note:" not in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_fit_says_uint8_codes_are_scaled_though_its_file_keeps_floats(tmp_path, capsys, monkeypatch):
    import hyperzoo.data.custom

    monkeypatch.setattr(hyperzoo.data.custom, "_noted_scale", set())
    x, y = digits("train")
    hyperzoo.fit(Net(), ((x * 10).to(torch.uint8), y), out=tmp_path / "r", train=FAST, method=TINY_METHOD,
                 progress=False)
    assert capsys.readouterr().err.count("uint8 inputs are scaled to [0, 1] as pixels") == 1


def test_run_report_takes_one_compared_run_as_a_path(tmp_path, monkeypatch):
    """compare="runs/b" was a list of its characters, one run each."""
    import hyperzoo.report

    run = hyperzoo.fit(Net(), digits("train"), out=tmp_path / "run", train=FAST, method=TINY_METHOD,
                       progress=False)
    seen = {}
    monkeypatch.setattr(hyperzoo.report, "make_report", lambda *a, **kw: seen.update(kw) or {})
    (tmp_path / "rep").mkdir()
    run.report(tmp_path / "rep", compare="runs/b", progress=False)
    assert seen["compare"] == ["runs/b"]
    run.report(tmp_path / "rep", compare=None, progress=False)
    assert seen["compare"] == []

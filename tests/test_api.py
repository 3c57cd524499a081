"""hyperzoo.fit / load / Run: the CLI's workflow from Python, on in-memory modules and data."""

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
        assert api._record_module(net, cfg) is None
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
    rep = again.report(tmp_path / "report", pool=4, limit=30, adv_limit=10, path_limit=10,
                       detection_sizes=[2], progress=False)
    assert rep["dataset"] == "data" and (tmp_path / "report" / "report.md").is_file()
    assert (tmp_path / "report" / "command.txt").read_text().startswith(
        f"hyperzoo.Run.report run={tmp_path / 'run'} pool=4 limit=30 ")
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


def test_large_in_memory_data_is_not_copied_and_must_be_given_again(tmp_path, monkeypatch):
    import hyperzoo.api

    monkeypatch.setattr(hyperzoo.api, "DATA_LIMIT_BYTES", 0)
    x, y = digits("train")
    run = hyperzoo.fit(Net(), (x, y), out=tmp_path / "run", name="big", train=FAST, method=TINY_METHOD,
                       progress=False)
    assert not list((tmp_path / "run").glob("*.npz"))
    assert "too large to keep here" in (tmp_path / "run" / "REOPEN.txt").read_text()
    with pytest.raises(DataError, match="unknown dataset '<in-memory big>'"):
        run.evaluate(networks=2)
    xt, yt = digits("test")
    assert hyperzoo.load(tmp_path / "run", trust_code=True).evaluate(xt, yt, networks=2)["n_examples"] == 300

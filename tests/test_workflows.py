import json

import pytest
import torch
from safetensors.torch import load_file

from hyperzoo.errors import ConfigError, DataError, RunError
from hyperzoo.targets.zoo import DigitsNet
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run, export_networks
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    train(tiny_config("train.steps=3"), path, argv=["x"], progress=False)
    return path


def test_exported_networks_load_into_the_plain_module(run, tmp_path):
    paths = export_networks(run, 3, tmp_path / "nets", seed=1)
    assert [p.name for p in paths] == [f"network_000{i}.safetensors" for i in range(3)]
    manifest = json.loads((tmp_path / "nets" / "manifest.json").read_text())
    assert manifest["target"] == "digits_net" and manifest["n_networks"] == 3
    # Enough to rebuild and to know which model: the class, the absolute run, the checkpoint's step.
    assert manifest["module_class"] == "DigitsNet" and manifest["run"] == str(run.resolve())
    assert manifest["checkpoint"] == "checkpoint.safetensors" and manifest["checkpoint_step"] == 3
    x = torch.rand(4, 1, 8, 8)
    outs = []
    for p in paths:
        net = DigitsNet()
        net.load_state_dict(load_file(str(p)))
        outs.append(net(x))
    assert not torch.allclose(outs[0], outs[1])


def test_every_exported_file_names_its_constructor_arguments(tmp_path):
    """A flag with no weights of its own changes what a state dict computes, so each file
    carries the constructor's arguments, not only the manifest."""
    from safetensors import safe_open

    from tests.helpers import DropoutNet

    train(tiny_config("train.steps=2", "target.name=tests.helpers:DropoutNet", "target.kwargs={hidden: 8}"),
          tmp_path / "run", argv=["x"], progress=False)
    paths = export_networks(tmp_path / "run", 2, tmp_path / "nets", trust_code=True)
    for p in paths:
        with safe_open(str(p), "pt") as f:
            kwargs = json.loads(f.metadata()["target_kwargs"])
        assert kwargs == {"hidden": 8}
        DropoutNet(**kwargs).load_state_dict(load_file(str(p)))
    assert json.loads((tmp_path / "nets" / "manifest.json").read_text())["target_kwargs"] == {"hidden": 8}


def test_exported_files_hold_the_state_dict_and_nothing_else(tmp_path):
    """A non-persistent buffer is not part of a state dict: the file loads strictly into the
    plain module, which then computes what the sampled network computes."""
    from hyperzoo.session import load_run, sample_networks
    from tests.helpers import CenteredNet

    train(tiny_config("train.steps=2", "target.name=tests.helpers:CenteredNet"), tmp_path / "run",
          argv=["x"], progress=False)
    paths = export_networks(tmp_path / "run", 2, tmp_path / "nets", seed=3, trust_code=True)
    session = load_run(tmp_path / "run", trust_code=True)
    weights = sample_networks(session, 2, 3)
    x = torch.rand(5, 1, 8, 8)
    expected = session.target(weights, x)
    for i, p in enumerate(paths):
        net = CenteredNet()
        net.load_state_dict(load_file(str(p)))  # strict: an extra key is an error
        torch.testing.assert_close(net(x), expected[i])


def test_evaluate_writes_metrics(run):
    m = evaluate_run(run, n_networks=4, progress=False)
    saved = json.loads((run / "metrics-test.json").read_text())
    assert saved == m
    val = evaluate_run(run, n_networks=4, split="val", progress=False)
    # Each split keeps its own file: evaluating val does not overwrite test's metrics.
    assert json.loads((run / "metrics-val.json").read_text()) == val
    assert json.loads((run / "metrics-test.json").read_text()) == m and val["split"] == "val"
    for key in ("mean_accuracy", "std_accuracy", "min_accuracy", "max_accuracy",
                "ensemble_accuracy", "majority_accuracy", "entropy_estimate", "n_networks",
                "dataset", "split", "ensemble_nll", "disagreement", "mutual_information", "ece_bins"):
        assert key in m
    for name in ("nll", "brier", "ece", "aurc"):
        assert m[f"std_{name}"] >= 0 and m[f"mean_{name}"] >= 0 and m[f"ensemble_{name}"] >= 0
    assert (run / m["reliability_figure"]).stat().st_size > 5_000
    assert m["n_networks"] == 4 and m["dataset"] == "digits" and m["split"] == "test"
    assert m["min_accuracy"] <= m["mean_accuracy"] <= m["max_accuracy"]
    assert m["ensemble_accuracy_by_size"] == {}  # Table 4's sizes start at 5; the pool is 4


def test_evaluate_ensembles_by_size(run):
    m = evaluate_run(run, n_networks=12, progress=False)
    assert list(m["ensemble_accuracy_by_size"]) == ["5", "10"]  # sizes below the pool of 12
    assert all(0.0 < v <= 1.0 for v in m["ensemble_accuracy_by_size"].values())


def test_independent_ensembles_equal_a_naive_computation(run, tmp_path):
    """Each of K ensembles is N fresh networks from its own noise seed, scored by majority vote."""
    from hyperzoo.data import load_dataset
    from hyperzoo.session import load_run, sample_networks

    m = evaluate_run(run, n_networks=3, progress=False, ensembles=2, seed=5, out=tmp_path / "m.json")
    e = m["independent_ensembles"]
    session, test = load_run(run), load_dataset("digits", "test")
    for k in range(2):
        weights = sample_networks(session, 3, 6 + k)  # seeds seed + 1, seed + 2
        preds = torch.stack([session.target({n: w[i:i + 1] for n, w in weights.items()}, test.x)[0].argmax(-1)
                             for i in range(3)])  # (3, B): one module call per network
        votes = torch.stack([torch.bincount(p, minlength=10) for p in preds.t()])  # (B, 10)
        assert e["majority"][k] == pytest.approx((votes.argmax(-1) == test.y).double().mean().item())
    assert e["majority_mean"] == pytest.approx(sum(e["majority"]) / 2)
    with pytest.raises(ConfigError, match=r"\(--ensembles\) must be at least 1"):
        evaluate_run(run, n_networks=3, progress=False, ensembles=0)


def test_bad_counts(run, tmp_path):
    with pytest.raises(ConfigError, match=r"networks \(--networks\) must be at least 1"):
        evaluate_run(run, n_networks=0, progress=False)
    with pytest.raises(ConfigError, match=r"\(n, -n\) must be at least 1"):
        export_networks(run, 0, tmp_path)


def write_idx_folder(folder, images):
    import struct

    import numpy as np

    folder.mkdir(parents=True)
    for name, arr in (("t10k-images-idx3-ubyte", images),
                      ("t10k-labels-idx1-ubyte", np.zeros(len(images), dtype=np.uint8))):
        header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
        (folder / name).write_bytes(header + arr.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def trained_ensemble(tmp_path_factory):
    """5 independently trained digits networks (about 7 s): they disagree off the data."""
    from hyperzoo.config import load_config

    path = tmp_path_factory.mktemp("ens") / "run"
    train(load_config(None, ["method.name=ensemble", "method.size=5", "train.noise_batch=5",
                             "train.steps=150", "train.lr=1e-2", "train.val_every=150",
                             "train.checkpoint_every=150", "data.val_limit=10", "train.threads=1"]),
          path, argv=["x"], progress=False)
    return path


def test_ood_detects_noise_and_refuses_the_inliers_themselves(run, trained_ensemble, tmp_path):
    import numpy as np

    from hyperzoo.data import load_dataset
    from hyperzoo.workflows import ood_run

    # Outliers: 8×8 uniform noise in a notMNIST-layout folder.
    noise = np.random.default_rng(0).integers(0, 256, (50, 8, 8))
    write_idx_folder(tmp_path / "noise" / "notmnist-small", noise)
    r = ood_run(trained_ensemble, "notmnist", n_networks=5, data_dir=str(tmp_path / "noise"),
                out=tmp_path / "ood", progress=False)
    assert r["n_outliers"] == 50 and r["image_overlap"] == 0.0 and r["n_networks"] == 5
    # Detection, not only a number in [0, 1]: the networks disagree on noise (0.97 measured).
    assert r["auroc"] > 0.9 and (tmp_path / "ood" / "ood_cdf.png").is_file()
    assert r["positive_class"] == "outliers (notmnist)" and r["auroc"] == r["scores"]["entropy"]["auroc"]
    assert set(r["scores"]["mutual_information"]) >= {"auroc", "aupr", "fpr_at_95_tpr"}
    # The reference code's bug: the "outliers" are the inlier images themselves.
    digits = (load_dataset("digits", "test").x[:, 0] * 255).round().numpy()
    write_idx_folder(tmp_path / "same" / "notmnist-small", digits)
    with pytest.raises(DataError, match="also in the inlier set 'digits'"):
        ood_run(run, "notmnist", n_networks=4, data_dir=str(tmp_path / "same"), progress=False)


def test_ood_notes_outliers_on_another_scale_and_a_partial_overlap(run, capsys):
    """A float set saved at 0-255 was scored without a word (the inliers themselves, rescaled,
    read as in-distribution), and an overlap under half was said only in ood.json."""
    from hyperzoo.data import Dataset, load_dataset
    from hyperzoo.workflows import ood_run

    test = load_dataset("digits", "test")
    rescaled = Dataset((test.x * 255).round(), test.y, "rescaled", "test", test.num_classes)
    ood_run(run, rescaled, n_networks=2, progress=False)
    assert "note: the 'rescaled' inputs reach 255 against inliers in [0, 1]" in \
        capsys.readouterr().err
    normal = torch.randn(50, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    gauss = Dataset(normal, test.y[:50], "gauss", "test", test.num_classes)
    ood_run(run, gauss, n_networks=2, progress=False)  # noise of another range: not pixels
    assert "gauss" not in capsys.readouterr().err
    noise = torch.rand(len(test), *test.x.shape[1:], generator=torch.Generator().manual_seed(0))
    mixed = Dataset(torch.cat([test.x[:30], noise[30:]]), test.y, "mixed", "test", test.num_classes)
    r = ood_run(run, mixed, n_networks=2, progress=False)
    share = f"{30 / len(test):.1%}"
    assert f"note: {share} of the 'mixed' images are also in the inlier set" in capsys.readouterr().err
    assert r["image_overlap"] == pytest.approx(30 / len(test))


def test_a_first_slice_without_every_class_is_noted_once(capsys):
    """A file sorted by class validated (or estimated statistics) on its first classes alone."""
    from hyperzoo.data import Dataset
    from hyperzoo.session import limit_dataset

    data = Dataset(torch.rand(30, 1, 8, 8), torch.arange(3).repeat_interleave(10), "sorted", "val", 3)
    assert len(limit_dataset(data, 12)) == 12 and len(limit_dataset(data, 12)) == 12
    err = capsys.readouterr().err
    assert err.count("note: sorted val: the first 12 of its 30 examples hold 2 of its 3 classes") == 1
    limit_dataset(Dataset(data.x, data.y[torch.randperm(30, generator=torch.Generator().manual_seed(0))],
                          "shuffled", "val", 3), 12)
    assert "shuffled" not in capsys.readouterr().err


def test_ood_detects_uniform_noise_by_entropy_and_mutual_information(tmp_path):
    """A trained ensemble of 5 digits networks (200 steps, about 10 s) tells 8×8 uniform noise from
    the digits test images by both scores; outliers are the positive class."""
    import numpy as np

    from hyperzoo.config import load_config
    from hyperzoo.workflows import ood_run

    cfg = load_config(None, ["method.name=ensemble", "method.size=5", "train.noise_batch=5",
                             "train.steps=200", "train.lr=1e-2", "train.val_every=200",
                             "train.val_networks=5", "train.checkpoint_every=200", "train.threads=1"])
    train(cfg, tmp_path / "e", argv=["x"], progress=False)
    noise = np.random.default_rng(0).integers(0, 256, (200, 8, 8))
    write_idx_folder(tmp_path / "noise" / "notmnist-small", noise)
    r = ood_run(tmp_path / "e", "notmnist", n_networks=5, data_dir=str(tmp_path / "noise"), progress=False)
    assert r["n_networks"] == 5 and r["positive_class"] == "outliers (notmnist)"
    for name, m in r["scores"].items():
        assert m["auroc"] > 0.9 and m["aupr"] > 0.9, (name, m)
        assert m["mean_outliers"] > m["mean_inliers"], (name, m)


def test_sample_into_an_earlier_export_leaves_no_stale_networks(run, tmp_path):
    out = tmp_path / "nets"
    export_networks(run, 5, out)
    export_networks(run, 2, out, seed=1)
    assert sorted(p.name for p in out.iterdir()) == [".hyperzoo-result", "manifest.json",
                                                     "network_0000.safetensors", "network_0001.safetensors"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_networks"] == 2 and manifest["seed"] == 1


def test_sample_refuses_a_folder_holding_other_files(run, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="holds 'notes.txt', which is not part of an export"):
        export_networks(run, 2, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_sample_refuses_network_files_no_export_vouches_for(run, tmp_path):
    """A folder of network files copied by hand (no manifest, no mark) is the user's: it was
    replaced, and files beyond -n deleted. An export stopped before its manifest is redone."""
    export_networks(run, 3, tmp_path / "first")
    mine = tmp_path / "saved"
    mine.mkdir()
    for p in (tmp_path / "first").glob("network_*.safetensors"):
        (mine / p.name).write_bytes(p.read_bytes())
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(RunError, match="holds 'network_0000.safetensors' but no export's manifest"):
        export_networks(run, 2, mine, seed=1)
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    (tmp_path / "first" / "manifest.json").unlink()  # stopped between the two manifests
    export_networks(run, 2, tmp_path / "first", seed=1)
    assert json.loads((tmp_path / "first" / "manifest.json").read_text())["n_networks"] == 2


def test_evaluate_on_a_read_only_run_still_gives_the_numbers(run, tmp_path, capsys, monkeypatch):
    """A write error (simulated: root ignores a read-only mode) is a warning; the numbers stay."""
    import errno

    import hyperzoo.workflows as wf

    real = wf.atomic_write_json

    def read_only(path, obj):
        if path.parent == run:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        real(path, obj)

    monkeypatch.setattr(wf, "atomic_write_json", read_only)
    m = evaluate_run(run, n_networks=3, progress=False)
    assert m["n_networks"] == 3
    err = capsys.readouterr().err
    assert err.startswith("warning: could not write") and "Read-only file system" in err
    assert len(err.strip().splitlines()) == 1
    evaluate_run(run, n_networks=3, progress=False, out=tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["n_networks"] == 3
    # A file asked for by name that cannot be written is an error: a warning and exit status 0
    # left a script believing it was.
    with pytest.raises(RunError, match="could not write .*m2.json .*Read-only file system"):
        evaluate_run(run, n_networks=3, progress=False, out=run / "m2.json")


def test_another_runs_result_is_not_replaced(run, tmp_path):
    """--out at another run folder's metrics-test.json replaced its numbers with this run's, and
    nothing in the file said whose they were."""
    import shutil

    other = tmp_path / "other"
    train(tiny_config("train.steps=2"), other, argv=["x"], progress=False)
    evaluate_run(other, n_networks=2, progress=False)
    target = other / "metrics-test.json"
    before = target.read_text()
    with pytest.raises(RunError, match=r"lies in another run's folder"):
        evaluate_run(run, n_networks=2, progress=False, out=target)
    assert target.read_text() == before
    with pytest.raises(RunError, match=r"lies in another run's folder"):  # a new name there too
        evaluate_run(run, n_networks=2, progress=False, out=other / "mine.json")
    assert not (other / "mine.json").exists()
    moved = tmp_path / "moved.json"  # another run's result outside its folder, by its run_id
    moved.write_text(before)
    with pytest.raises(RunError, match=r"holds the result of another run"):
        evaluate_run(run, n_networks=2, progress=False, out=moved)
    # Its own earlier result is replaced, and says whose it is.
    m = evaluate_run(other, n_networks=2, progress=False, out=target)
    assert m["run"] == str(other.absolute()) and m["run_id"] == json.loads(target.read_text())["run_id"]
    # A result from before results named their run: the run folder it sits in says whose.
    old = {k: v for k, v in json.loads(before).items() if k not in ("run", "run_id")}
    target.write_text(json.dumps(old))
    with pytest.raises(RunError, match=r"lies in another run's folder"):
        evaluate_run(run, n_networks=2, progress=False, out=target)
    shutil.rmtree(other)


def test_evaluate_gives_at_most_the_networks_a_method_holds(tmp_path):
    from hyperzoo.config import load_config

    ensemble = load_config(None, ["method.name=ensemble", "method.size=3", "train.noise_batch=3",
                                  "train.steps=2", "train.val_every=2", "train.val_networks=3"])
    train(ensemble, tmp_path / "e", argv=["x"], progress=False)
    m = evaluate_run(tmp_path / "e", n_networks=100, progress=False)
    assert m["n_networks"] == 3 and m["entropy_estimate"] is not None
    # No latent space: the estimate's d is the digits target's weight count, recorded as such.
    assert m["entropy_d"] == sum(p.numel() for p in DigitsNet().parameters())
    one = evaluate_run(tmp_path / "e", n_networks=1, progress=False)
    # One network: no ensemble gain, no spread, no entropy to estimate.
    assert one["n_networks"] == 1 and one["entropy_estimate"] is None
    assert one["ensemble_accuracy"] == one["mean_accuracy"] and one["std_accuracy"] == 0.0
    # --ensembles on a fixed set is refused before any file: a figure written first blocked --out.
    with pytest.raises(ConfigError, match="--ensembles needs a method that draws fresh networks"):
        evaluate_run(tmp_path / "e", n_networks=3, ensembles=2, out=tmp_path / "m.json", progress=False)
    assert not list(tmp_path.glob("m*"))


def test_a_run_that_holds_its_networks_gives_them_detached_and_no_more(tmp_path):
    from hyperzoo.config import load_config
    from hyperzoo.session import load_run, sample_networks
    from tests.helpers import method_overrides

    train(load_config(None, [*method_overrides("ensemble"), "train.steps=2"]), tmp_path / "run", argv=["x"],
          progress=False)
    session = load_run(tmp_path / "run")
    assert not any(w.requires_grad for w in sample_networks(session, 4, 0).values())
    with pytest.raises(ConfigError, match="this run's method 'ensemble' holds 4 networks; asked for 5"):
        sample_networks(session, 5, 0)
    # Export takes all of a fixed set, as evaluate does (`hyperzoo sample` asks for 10 by default).
    assert len(export_networks(tmp_path / "run", 10, tmp_path / "nets")) == 4


def test_ood_of_a_regression_run_is_one_line(tmp_path):
    from hyperzoo.toy_regression import run_toy_regression, toy_regression_config
    from hyperzoo.workflows import evaluate_run, ood_run, polyak_run

    train(toy_regression_config(steps=2), tmp_path / "run", argv=["x"], progress=False)
    with pytest.raises(ConfigError, match="this run is a regression run"):
        ood_run(tmp_path / "run", "cubic", 2)
    with pytest.raises(ConfigError, match="^polyak scores .* this run is a regression run$"):
        polyak_run(tmp_path / "run", 3)
    import hyperzoo

    with pytest.raises(ConfigError, match=r"^predict_proba gives class probabilities .*regression run$"):
        hyperzoo.load(tmp_path / "run").predict_proba(torch.zeros(2, 1), networks=2)
    with pytest.raises(ConfigError, match="^--ensembles scores .*; 'cubic' is a regression set$"):
        evaluate_run(tmp_path / "run", 4, ensembles=2, progress=False)
    with pytest.raises(ConfigError, match="--networks must be at least 2"):  # before training
        run_toy_regression(tmp_path / "toy", steps=2, networks=1, progress=False)
    assert not (tmp_path / "toy").exists()


def test_ood_does_not_take_over_another_runs_result_folder(run, tmp_path):
    """ood --out replaced another run's ood.json without a word (as evaluate --out did)."""
    from hyperzoo.data import Dataset, load_dataset
    from hyperzoo.workflows import ood_run

    other = tmp_path / "other"
    train(tiny_config("train.steps=2"), other, argv=["x"], progress=False)
    test = load_dataset("digits", "test")
    noise = Dataset(torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0)), test.y[:40], "noise",
                    "test", test.num_classes)
    r = ood_run(other, noise, n_networks=2, out=tmp_path / "oo", progress=False)
    assert r["run_id"] == json.loads((tmp_path / "oo" / "ood.json").read_text())["run_id"]
    with pytest.raises(RunError, match="holds hyperzoo ood's results for another run"):
        ood_run(run, noise, n_networks=2, out=tmp_path / "oo", progress=False)
    ood_run(other, noise, n_networks=2, out=tmp_path / "oo", progress=False)  # its own: replaced


def test_a_mistyped_run_folder_is_named_not_the_out_file(run, tmp_path):
    evaluate_run(run, n_networks=2, progress=False, out=tmp_path / "m.json")
    with pytest.raises(RunError, match="is not a hyperzoo run folder"):
        evaluate_run(tmp_path / "nosuchrun", n_networks=2, progress=False, out=tmp_path / "m.json")


def test_an_outlier_file_needs_no_labels(run, tmp_path):
    """An .npz of outlier images alone was refused ('has x_test without y_test'): detection reads
    no labels. A file with training arrays still needs its labels."""
    import numpy as np

    from hyperzoo.workflows import ood_run

    noise = np.random.default_rng(0).integers(0, 256, (40, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "noise.npz", x_test=noise)
    r = ood_run(run, str(tmp_path / "noise.npz"), n_networks=2, progress=False)
    assert r["outliers"] == "noise" and r["n_outliers"] == 40
    np.savez(tmp_path / "half.npz", x_test=noise, x_train=noise, y_train=np.zeros(40, dtype=np.int64))
    with pytest.raises(DataError, match="has x_test without y_test"):
        ood_run(run, str(tmp_path / "half.npz"), n_networks=2, progress=False)
    # An IDX folder of test images alone too (its labels file was required); the same images.
    write_idx_folder(tmp_path / "idx-noise", noise)
    (tmp_path / "idx-noise" / "t10k-labels-idx1-ubyte").unlink()
    r2 = ood_run(run, str(tmp_path / "idx-noise"), n_networks=2, progress=False)
    assert r2["outliers"] == "idx-noise" and r2["n_outliers"] == 40
    assert r2["auroc"] == r["auroc"]
    (tmp_path / "idx-noise" / "train-images-idx3-ubyte").write_bytes(
        (tmp_path / "idx-noise" / "t10k-images-idx3-ubyte").read_bytes())  # a set to train on: labels
    with pytest.raises(DataError, match=r"has no labels file .*-labels-idx1-ubyte \(or .gz\) beside it"):
        ood_run(run, str(tmp_path / "idx-noise"), n_networks=2, progress=False)


def test_ood_messages_name_its_own_options(run, tmp_path, capsys):
    """notMNIST without a folder named --data-dir (ood's is --outlier-dir); an --outlier-dir that
    no set used went unsaid."""
    import numpy as np

    from hyperzoo.workflows import ood_run

    with pytest.raises(DataError, match="needs --outlier-dir"):
        ood_run(run, "notmnist", n_networks=2, progress=False)
    noise = np.random.default_rng(0).integers(0, 256, (20, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "noise.npz", x_test=noise)
    ood_run(run, str(tmp_path / "noise.npz"), n_networks=2, progress=False,
            outlier_dir=str(tmp_path / "nowhere"))
    assert "note: --outlier-dir" in capsys.readouterr().err


def test_a_json_out_named_like_a_network_or_figure_is_refused(run, tmp_path):
    """polyak --out averaged.safetensors wrote its JSON numbers under that name."""
    from hyperzoo.workflows import POLYAK_KEYS, check_json_out

    for name in ("averaged.safetensors", "fig.png", "nets.pt"):
        with pytest.raises(ConfigError, match=r"writes its numbers as JSON there, not a \.\w+ file"):
            check_json_out(tmp_path / name, POLYAK_KEYS, run)
    check_json_out(tmp_path / "polyak.json", POLYAK_KEYS, run)
    check_json_out(tmp_path / "numbers.txt", POLYAK_KEYS, run)

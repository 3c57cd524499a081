import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hyperzoo.config import ConfigError, load_config
from hyperzoo.data import load_dataset
from hyperzoo.session import build_session
from hyperzoo.toy_regression import CONFIG, run_toy_regression, toy_regression_config
from hyperzoo.train import train
from hyperzoo.workflows import evaluate_run

ROOT = Path(__file__).resolve().parents[1]


def test_cubic_splits_lie_in_range_with_the_stated_noise():
    for split, n in (("train", 20), ("val", 200), ("test", 1000)):
        d = load_dataset("cubic", split)
        assert d.task == "regression" and d.x.shape == (n, 1) and d.y.dtype == torch.float32
        assert d.x.abs().max() <= 4
    test = load_dataset("cubic", "test")
    assert abs((test.y - test.x[:, 0] ** 3).std().item() - 3.0) < 0.25
    assert not torch.equal(load_dataset("cubic", "val").x[:20], load_dataset("cubic", "train").x)


def test_the_packaged_setting_is_the_experiments_config():
    from_yaml = load_config(ROOT / "experiments" / "toy_regression.yaml")
    assert from_yaml == toy_regression_config()
    assert CONFIG["target"]["kwargs"]["output_scale"] == pytest.approx(64 / 7**0.5, abs=1e-4)


def test_short_run_is_an_ordinary_run_that_fits_the_points(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "reg"
    rep = run_toy_regression(out, steps=300, networks=50, progress=False)
    for name in ("checkpoint.safetensors", "config.yaml", "metrics.jsonl", "regression.png", "report.md"):
        assert (out / name).is_file(), name
    assert (out / "regression.png").stat().st_size > 10_000
    train_y = load_dataset("cubic", "train").y
    # The networks' mean explains most of the targets' variance (y ranges over ±64).
    assert rep["train"]["ensemble_rmse"] ** 2 < 0.2 * train_y.var().item()
    # Sampled functions disagree more away from the data than on it.
    assert rep["mean_std_outside_data_range"] > 1.5 * rep["mean_std_inside_data_range"]
    assert "rmse_to_true_function_inside" in rep  # the built-in set: y = x³ is known
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "val_mean_rmse" in rows[-1] and rows[-1]["mse"] < 0.3 * rows[0]["mse"]
    m = evaluate_run(out, 20, progress=False)
    assert m["n_networks"] == 20 and m["ensemble_rmse"] <= m["mean_rmse"]
    assert json.loads((out / "metrics-test.json").read_text())["mean_rmse"] == m["mean_rmse"]


def _cfg(tmp_path, **sets):
    data = yaml.safe_load(yaml.safe_dump(CONFIG))
    for key, value in sets.items():
        section, name = key.split("__")
        data[section][name] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


@pytest.mark.parametrize(("sets", "message"), [
    ({"train__images_per_noise": 16}, "full_batch needs train.images_per_noise equal to the 20"),
    ({"data__augment": "crop", "data__pad": 1}, "data.augment 'crop' crops images"),
    ({"method__task": "classification"}, "'cubic' is a regression set but method 'hypergan' trains for "
                                        "classification (set method.task: regression)"),
    # One target per step has no variance to weigh the squared error by (it was NaN at the first step).
    ({"train__noise_batch": 1, "train__images_per_noise": 1, "train__full_batch": False},
     "set train.noise_batch × train.images_per_noise to at least 2 (got 1 × 1)"),
])
def test_mismatched_settings_fail_in_one_line_before_any_folder(tmp_path, sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train(_cfg(tmp_path, **sets), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_method_without_regression_is_refused(tmp_path):
    cfg = _cfg(tmp_path)
    cfg.method = {"name": "deutsch"}
    refused = "regression set but method 'deutsch' trains for classification"
    hint = r" \(regression: method.name hypergan with method.task regression\)$"  # the way on
    with pytest.raises(ConfigError, match=refused + hint):
        train(cfg, tmp_path / "run", progress=False)


def test_a_users_own_regression_set_trains_and_evaluates(tmp_path):
    """An .npz of feature vectors with real targets, a built-in MLP of matching width: the same
    train → evaluate path as any data set."""
    import numpy as np

    torch.set_num_threads(1)
    g = np.random.default_rng(0)
    x, xt = g.uniform(-1, 1, (200, 3)).astype(np.float32), g.uniform(-1, 1, (100, 3)).astype(np.float32)
    w = np.array([1.5, -2.0, 0.5], np.float32)
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=x @ w + 0.05, x_test=xt, y_test=xt @ w + 0.05)
    cfg = load_config(None, [f"data.dataset={tmp_path / 'mine.npz'}", "target.name=regression_mlp",
                             "target.kwargs={in_features: 3, hidden: 32}", "method.name=hypergan",
                             "method.task=regression", "method.z_dim=8", "method.code_size=8",
                             "method.mixer_hidden=[32]", "method.generator_hidden=[32]",
                             "method.discriminator_hidden=[32]", "method.pretrain_steps=0",
                             "train.steps=300", "train.val_every=100", "train.lr=0.003",
                             "train.lr_schedule=constant"])
    train(cfg, tmp_path / "run", progress=False)
    m = evaluate_run(tmp_path / "run", 10, progress=False)
    assert m["dataset"] == "mine" and m["n_examples"] == 100
    # Far better than predicting the mean (the targets' std is about 1.5).
    assert m["ensemble_rmse"] < 0.5 * float(np.std(xt @ w))


def test_only_the_built_in_set_gets_the_seeds_range():
    """A file of your own named cubic.npz is not the built-in set: its own range, no y = x³."""
    from hyperzoo.analysis.regression import grid_over

    train = load_dataset("cubic", "train")
    own = type(train)(train.x / 100, train.y, "cubic", "train", 0)  # the name a cubic.npz gets
    assert grid_over(train, builtin="cubic")[[0, -1]].tolist() == [-6.0, 6.0]
    assert abs(grid_over(own)[0].item()) < 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_whole_number_targets_are_values_to_a_regression_method(tmp_path, dtype):
    """Rounded targets (or integers) are read as class labels by default; with method.task
    regression they were refused as "a classification set", and read alone as labels they
    would have been scored by accuracy."""
    torch.set_num_threads(1)
    g = np.random.default_rng(0)
    x, xt = g.uniform(-1, 1, (60, 3)).astype(np.float32), g.uniform(-1, 1, (30, 3)).astype(np.float32)
    w = np.array([3.0, -2.0, 1.0], np.float32)
    y, yt = ((np.round(a @ w) + 7).astype(dtype) for a in (x, xt))
    np.savez(tmp_path / "counts.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    assert load_dataset(str(tmp_path / "counts.npz"), "test").task == "classification"  # read alone
    cfg = load_config(None, [f"data.dataset={tmp_path / 'counts.npz'}", "target.name=regression_mlp",
                             "target.kwargs={in_features: 3, hidden: 8}", "method.name=hypergan",
                             "method.task=regression", "method.z_dim=8", "method.code_size=4",
                             "method.mixer_hidden=[8]", "method.generator_hidden=[8]",
                             "method.discriminator_hidden=[8]", "method.pretrain_steps=0",
                             "train.steps=4", "train.val_every=2"])
    train(cfg, tmp_path / "run", progress=False)
    m = evaluate_run(tmp_path / "run", 4, progress=False)
    assert "ensemble_rmse" in m and "ensemble_accuracy" not in m


def test_a_built_in_classification_set_stays_one_for_a_regression_method():
    from hyperzoo.data import read_for

    digits = load_dataset("digits", "test")
    assert read_for(digits, "regression") is digits
    with pytest.raises(ConfigError, match="'digits' is a classification set but method 'hypergan' trains for "
                                          "regression"):
        build_session(load_config(None, ["data.dataset=digits", "target.name=digits_net",
                                         "method.name=hypergan", "method.task=regression"]))

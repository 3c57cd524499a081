import pytest

from hyperzoo.config import ConfigError, load_config


def test_defaults_are_the_digits_demo():
    cfg = load_config()
    assert cfg.data.dataset == "digits" and cfg.target.name == "digits_net"
    assert cfg.method["name"] == "deutsch"


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  steps: 5\nmethod:\n  lam: 10\n")
    cfg = load_config(path, ["train.lr=0.01", "method.z_dim=7", "data.val_limit=3"])
    assert cfg.train.steps == 5 and cfg.train.lr == 0.01 and cfg.data.val_limit == 3
    assert cfg.method == {"name": "deutsch", "lam": 10, "z_dim": 7}


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.stpes=3"], "unknown config key 'train.stpes'"),
    (["train.steps=many"], "config key 'train.steps' = 'many' has the wrong type"),
    (["train.steps"], "is not of the form key=value"),
])
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent.yaml")


def test_exponent_without_dot_is_a_float():
    assert load_config(None, ["train.lr=1e-4"]).train.lr == 1e-4


def test_exponent_without_dot_in_a_method_setting_is_a_number():
    assert load_config(None, ["method.lam=1e5"]).method["lam"] == 100000.0


def test_augmentation_settings_are_checked():
    assert load_config(None, ["data.augment=crop", "data.pad=2"]).data.pad == 2
    with pytest.raises(ConfigError, match="data.augment 'flip'"):
        load_config(None, ["data.augment=flip"])
    with pytest.raises(ConfigError, match="data.pad must be positive"):
        load_config(None, ["data.augment=crop"])

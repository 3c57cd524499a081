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
    (["target.input_shape=[1, x]"], r"'target.input_shape\[1\]' = 'x' has the wrong type; expected int"),
    (["target.input_shape=[1, 0, 8]"], r"'target.input_shape' = \[1, 0, 8\]: sizes must be at least 1"),
    (["data.dataset=2024"], "has the wrong type; expected str .*quote it"),
    (["run_id=abc"], "run_id is not a setting"),  # accepted, train would replace it unannounced
    # Accepted, validation and the kept best model scored training examples.
    (["data.val_split=train"], "'data.val_split' = 'train' is not one of 'val', 'test'"),
    # Every option field is a Literal: one message, naming the choices.
    (["data.augment=flip"], "'data.augment' = 'flip' is not one of 'none', 'crop', 'crop_flip'"),
    (["target.backend=gpu"], "'target.backend' = 'gpu' is not one of 'auto', 'vmap', 'loop', 'threads'"),
    (["train.lr_schedule=linear"], "'train.lr_schedule' = 'linear' is not one of 'constant', 'cosine',"),
    (["train.precision=true"], "'train.precision' = True is not one of 'fp32', 'bf16'"),  # YAML's bool
    # Accepted, the rate never decayed.
    (["train.lr_schedule=step", "train.lr_decay=0.5"], "'step' needs train.lr_decay_every of at least 1"),
    # Tracebacks from torch, a run folder already written (lr: stuck there, refused and crashing).
    (["train.lr=1e39"], r"'train.lr' = 1e\+39 must be a positive number \(at most 3.4e\+38"),
    (["train.seed=18446744073709551612"], r"'train.seed' = 18446744073709551612 must be at most 2\*\*62"),
    (["train.threads=100000000000"], "'train.threads' = 100000000000 must be at most 4096"),
])
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent.yaml")
    with pytest.raises(ConfigError, match="is a folder, not a YAML file"):  # "does not exist" before
        load_config("/")


def test_a_data_file_passed_as_the_config_is_one_line(tmp_path):
    """`hyperzoo train data.npz`: a UnicodeDecodeError traceback before."""
    (tmp_path / "data.npz").write_bytes(b"PK\x03\x04\xf2\x00binary")
    with pytest.raises(ConfigError, match=r"'.*data.npz' is not a UTF-8 YAML file .*--set data.dataset=PATH"):
        load_config(tmp_path / "data.npz")


def test_exponent_without_dot_is_a_float():
    assert load_config(None, ["train.lr=1e-4"]).train.lr == 1e-4


def test_exponent_without_dot_in_a_method_setting_is_a_number():
    assert load_config(None, ["method.lam=1e5"]).method["lam"] == 100000.0


def test_augmentation_settings_are_checked():
    assert load_config(None, ["data.augment=crop", "data.pad=2"]).data.pad == 2
    with pytest.raises(ConfigError, match="'data.augment' = 'flip' is not one of"):
        load_config(None, ["data.augment=flip"])
    with pytest.raises(ConfigError, match="data.pad must be positive"):
        load_config(None, ["data.augment=crop"])
    with pytest.raises(ConfigError, match="data.pad must be positive with data.augment 'crop_flip'"):
        load_config(None, ["data.augment=crop_flip"])


def test_method_overrides_merge_into_the_default_method():
    """``--set method.z_dim=300`` keeps the default section's λ = 3000 (not the class's 1000)."""
    assert load_config(None, ["method.z_dim=300"]).method == {"name": "deutsch", "lam": 3000.0,
                                                               "z_dim": 300}
    # Another method replaces the default section: its keys are not Deutsch's.
    assert load_config(None, ["method.name=hypergan", "method.beta=2"]).method == {
        "name": "hypergan", "beta": 2}


def test_a_method_switched_by_set_names_the_files_settings_it_drops(tmp_path, capsys):
    """A full Deutsch file with --set method.name=hypergan lost its z_dim and code_size unsaid."""
    path = tmp_path / "c.yaml"
    path.write_text("method: {name: deutsch, z_dim: 300, code_size: 15}\n")
    assert load_config(path, ["method.name=hypergan"]).method == {"name": "hypergan"}
    assert ("method.name 'hypergan' replaces the config file's method 'deutsch': its settings (code_size, "
            "z_dim) belong to 'deutsch' and are dropped" in capsys.readouterr().err)
    load_config(None, ["method.name=hypergan"])  # the default section's λ is nobody's setting
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("overrides", "key"), [
    (["train.steps=0"], "train.steps"), (["train.val_every=0"], "train.val_every"),
    (["train.checkpoint_every=0"], "train.checkpoint_every"), (["train.lr=-1"], "train.lr"),
    (["train.noise_batch=0"], "train.noise_batch"), (["train.threads=0"], "train.threads"),
    (["train.images_per_noise=0"], "train.images_per_noise"), (["data.val_limit=0"], "data.val_limit"),
    (["target.backend=gpu"], "target.backend")])
def test_ranges_are_checked_at_load_time(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "'inf'"])
def test_numbers_must_be_finite(value):
    """A NaN or infinite setting (a KL weight, a prior variance, a learning rate) gave a loss of
    NaN or inf at the first step; method settings are checked when the method is built."""
    from hyperzoo.methods import build_method
    from hyperzoo.targets import TargetNet
    from hyperzoo.targets.zoo import DigitsNet

    with pytest.raises(ConfigError, match=r"config key 'train\.lr' = -?(nan|inf) must be a finite number"):
        load_config(None, [f"train.lr={value}"])
    settings = load_config(None, [f"method.lam={value}"]).method  # float or "auto": the number's message
    # A quoted 'inf' is text, which λ (a number or 'auto') refuses as such.
    with pytest.raises(ConfigError, match=r"'method\.lam' = -?(nan|inf) must be a finite number|"
                                          r"method.lam must be a positive number or 'auto', got 'inf'"):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), settings)
    settings = load_config(None, ["method.name=mnf", f"method.kl_weight={value}"]).method
    with pytest.raises(ConfigError, match=r"'method\.kl_weight' = -?(nan|inf) must be a finite number"):
        build_method(TargetNet(DigitsNet(), (1, 8, 8)), settings)


def test_yaml_syntax_errors_are_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  steps: [1,\n")
    with pytest.raises(ConfigError, match=r"c.yaml' is not valid YAML: .* at line \d+") as e:
        load_config(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("key", "value"), [
    *[("extractor_hidden", v) for v in ("[16, a]", "[0]", "[-3]")],
    # one list for every layer, or one per target layer
    *[("generator_hidden", v) for v in ("[16, a]", "[0]", "[-3]", "[[16], [0]]", "[16, [8]]")],
])
def test_a_methods_layer_widths_are_checked_one_by_one(key, value):
    from hyperzoo.methods import resolve_method_config

    with pytest.raises(ConfigError, match=f"method.{key}"):
        resolve_method_config(load_config(None, [f"method.{key}={value}"]).method)


def test_overrides_mean_what_they_say():
    """A whole method section by --set was dropped for the default Deutsch (trained without a
    word); a quoted number stayed a float (the wrong-type hint's own advice failed); YAML 1.1
    read 010 as octal 8 and 1:30 as 90."""
    assert load_config(None, ["method={name: hypergan, z_dim: 8}"]).method == {"name": "hypergan", "z_dim": 8}
    assert load_config(None, ["data.dataset='2024'"]).data.dataset == "2024"
    assert load_config(None, ["train.seed=010"]).train.seed == 10
    assert load_config(None, ["train.lr=1e-3"]).train.lr == 0.001
    assert load_config(None, ["train.steps=1e3"]).train.steps == 1000
    with pytest.raises(ConfigError, match="'train.steps' = '1:30' has the wrong type"):
        load_config(None, ["train.steps=1:30"])
    with pytest.raises(ConfigError, match="'train.lr' = 1000+ must be a finite number"):
        load_config(None, ["train.lr=1" + "0" * 400])  # an OverflowError's traceback


def test_a_key_given_twice_in_a_file_is_refused(tmp_path):
    """safe_load kept the last: a second train section replaced the first, without a word."""
    (tmp_path / "dup.yaml").write_text("train:\n  steps: 5\n  lr: 0.1\ntrain:\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match="key 'train' appears twice in one mapping at line 4"):
        load_config(tmp_path / "dup.yaml")
    # A merge key is no duplicate, and an unhashable key stays one line.
    (tmp_path / "merge.yaml").write_text("train:\n  <<: &t {steps: 10}\n  seed: 3\n")
    assert load_config(tmp_path / "merge.yaml").train.steps == 10
    (tmp_path / "list_key.yaml").write_text("? [a, b]\n: 1\n")
    with pytest.raises(ConfigError, match="found unhashable key"):
        load_config(tmp_path / "list_key.yaml")


def test_another_method_by_set_replaces_a_files_method_section():
    """The file's Deutsch keys (lam) were kept, and refused as unknown to the new method."""
    from pathlib import Path

    digits = Path(__file__).parent.parent / "experiments" / "digits.yaml"
    assert load_config(digits, ["method.name=mnf"]).method == {"name": "mnf"}
    assert load_config(digits, ["method.name=mnf", "method.flow_hidden=8"]).method == {
        "name": "mnf", "flow_hidden": 8}
    assert load_config(digits, ["method.z_dim=8"]).method["lam"] == load_config(digits).method["lam"]


def test_a_growing_step_schedule_is_refused_for_training_only():
    """Refused at load, a run trained with it before the check could no longer be reopened."""
    cfg = load_config(None, ["train.lr_schedule=step", "train.lr_decay_every=1", "train.lr_decay=1.5"])
    with pytest.raises(ConfigError, match=r"'train.lr_decay' = 1.5 must be in \(0, 1\] with"):
        cfg.train.check_for_training()
    # Unused beside another schedule: a folder trained so reopens; a new run is told.
    load_config(None, ["train.lr_decay=1.5"]).train.check_for_training(new_run=False)


@pytest.mark.parametrize("overrides, message", [
    (["train.lr_decay=0.9"], r"apply to train.lr_schedule 'step' only; with 'cosine' they would do nothing"),
    (["train.lr_schedule=constant", "train.lr_decay_every=5"], r"with 'constant' they would do nothing"),
    (["train.steps=5", "train.lr_warmup=5"], r"train.lr_warmup 5 must be below train.steps 5"),
])
def test_settings_that_would_do_nothing_are_refused_for_new_runs(overrides, message):
    """Accepted without a word: a step decay beside cosine, a warm-up the run never finished."""
    train_config = load_config(None, overrides).train
    with pytest.raises(ConfigError, match=message):
        train_config.check_for_training()
    train_config.check_for_training(new_run=False)


def test_option_fields_are_checked_when_built_in_python():
    from hyperzoo.config import DataConfig, TargetConfig, TrainConfig

    for build, message in ((lambda: TrainConfig(optimizer="rmsprop"), "'train.optimizer' = 'rmsprop'"),
                           (lambda: DataConfig(val_pick="first"), "'data.val_pick' = 'first'"),
                           (lambda: TargetConfig(backend="gpu"), "'target.backend' = 'gpu'")):
        with pytest.raises(ConfigError, match=message + " is not one of"):
            build()


def test_a_method_option_names_its_choices():
    from hyperzoo.methods import resolve_method_config

    with pytest.raises(ConfigError, match="'method.noise' = 'gauss' is not one of 'uniform', 'normal'"):
        resolve_method_config({"name": "deutsch", "noise": "gauss"})
    with pytest.raises(ConfigError, match="'method.task' = 'ranking' is not one of 'classification', 'regr"):
        resolve_method_config({"name": "hypergan", "task": "ranking"})
    assert resolve_method_config({"name": "deutsch", "metric": "l1"})["metric"] == "l1"


def test_a_literal_or_none_field_takes_none_and_its_choices():
    from typing import Literal

    from hyperzoo.config import _check_type

    kind = Literal["a", "b"] | None
    assert _check_type("k", None, kind) is None and _check_type("k", "b", kind) == "b"
    with pytest.raises(ConfigError, match="'k' = 'c' is not one of 'a', 'b'"):
        _check_type("k", "c", kind)
    with pytest.raises(ConfigError, match="'k' = 1 is not one of True"):  # 1 == True, by type not
        _check_type("k", 1, Literal[True])


def test_a_section_written_as_a_value_is_the_files_mistake_not_the_overrides(tmp_path):
    """`target: mymodels:Net` with any --set target.x=... blamed the --set."""
    path = tmp_path / "c.yaml"
    path.write_text("target: mymodels:Net\n")
    for overrides in ([], ["target.backend=loop"]):
        with pytest.raises(ConfigError, match=r"'.*c.yaml': section 'target' must be a mapping of keys .*"
                                              r"got 'mymodels:Net'"):
            load_config(path, overrides)


def test_a_str_subclass_is_its_string_and_a_yaml_bool_gets_a_hint():
    import enum

    import numpy as np

    from hyperzoo.config import TrainConfig

    class Kind(str, enum.Enum):
        SGD = "sgd"

    for value in (np.str_("sgd"), Kind.SGD):  # kept as the plain string: YAML writes it
        assert type(TrainConfig(optimizer=value).optimizer) is str
    with pytest.raises(ConfigError, match="= False is not one of 'fp32', 'bf16' .*boolean: quote it"):
        load_config(None, ["train.precision=off"])
